"""The UI's tabs: one builder per task, each with its own event handler. A builder is called
inside the gr.Blocks/gr.Tabs context of `ui.build` with a `Context` (the server's pool, the
runner that admits events like API requests, the server's token limit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import options as opts
from ..errors import EmptyInputError, InvalidOptionError, PretrainedError
from ..tasks.generate import GenerateOptions
from .ui_parts import (
    PALETTE,
    TOKENS_SHOWN,
    Runner,
    _gr_error,
    _options,
    _remove,
    _text,
    answered_by,
    uploaded,
)


@dataclass
class Context:
    server: Any
    pool: Any
    runner: Runner
    limit: int  # the server's max_new_tokens


def slider(cls: Any, name: str, label: str, *, limit: float | None = None, value: Any = None):
    """A gr.Slider over an option's declared range (capped by the server's `limit`): the UI
    offers no value the API would refuse."""
    import gradio as gr

    low, high, step = opts.slider_range(cls, name, limit)
    start = opts.default(cls, name) if value is None else value
    return gr.Slider(low, high, value=min(max(start, low), high), step=step, label=label)


def knobs(limit: int) -> list:
    """The generation knobs (an accordion of sliders), in the order the handlers take them."""
    import gradio as gr

    with gr.Accordion("Knobs", open=False):
        with gr.Row():
            max_new = slider(GenerateOptions, "max_new_tokens", "max new tokens", limit=limit)
            temperature = slider(GenerateOptions, "temperature", "temperature (0 = greedy)")
        with gr.Row():
            top_k = slider(GenerateOptions, "top_k", "top-k (0 = off)")
            top_p = slider(GenerateOptions, "top_p", "top-p")
            rep = slider(GenerateOptions, "repetition_penalty", "repetition penalty")
        with gr.Row():
            seed = gr.Number(value=None, precision=0, label="seed (empty = random)")
            stop = gr.Textbox(label="stop sequences (one per line)", lines=1)
    return [max_new, temperature, top_k, top_p, rep, seed, stop]


def generate_tab(ctx: Context) -> None:
    import gradio as gr

    async def generate(prompt, system, raw, max_new, temperature, top_k, top_p, rep, seed, stop):
        from ..tasks import generate as task

        try:
            options = _options(
                ctx.limit,
                max_new_tokens=max_new,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                repetition_penalty=rep,
                seed=seed,
                stop=_text(stop),
                system=_text(system),
                raw=bool(raw),
            )
            async with ctx.runner.admitted() as deadline:
                backend = await ctx.runner.run(lambda: ctx.pool.backend("generate"), deadline)
                handle = await ctx.runner.run(
                    lambda: task.stream(_text(prompt), options=options, backend=backend),
                    deadline,
                )
                text = ""
                async for piece in ctx.runner.pieces(handle, deadline):
                    text += piece
                    yield text, answered_by(ctx.pool.name("generate"), backend)
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        result = handle.result
        if result is not None:
            yield (
                result.text,
                answered_by(
                    ctx.pool.name("generate"),
                    backend,
                    result.timings.get("total_s"),
                    f"{result.completion_tokens} tokens · seed {result.options.get('seed', '-')}",
                ),
            )

    with gr.Tab("Generate", id="generate"):
        prompt = gr.Textbox(label="prompt", lines=4, elem_id="generate-input")
        with gr.Row():
            system = gr.Textbox(label="system prompt", lines=1)
            raw = gr.Checkbox(label="raw (no chat template)", value=False)
        extra = knobs(ctx.limit)
        run = gr.Button("Generate", variant="primary", elem_id="generate-button")
        output = gr.Textbox(label="output", lines=8, elem_id="generate-output")
        info = gr.Markdown(elem_id="generate-model")
        run.click(generate, [prompt, system, raw, *extra], [output, info], api_name="generate")


def chat_tab(ctx: Context) -> None:
    import gradio as gr

    async def chat(message, history, system, max_new, temperature):
        from ..tasks import chat as task

        history = list(history or [])
        message = _text(message)
        messages = [{"role": "system", "content": _text(system)}] if system else []
        messages += [{"role": m["role"], "content": _text(m["content"])} for m in history]
        messages.append({"role": "user", "content": message})
        try:
            options = _options(ctx.limit, max_new_tokens=max_new, temperature=temperature)
            task.check_messages(messages)
            async with ctx.runner.admitted() as deadline:
                backend = await ctx.runner.run(lambda: ctx.pool.backend("chat"), deadline)
                handle = await ctx.runner.run(
                    lambda: task.stream_chat(messages, options=options, backend=backend),
                    deadline,
                )
                shown = history + [{"role": "user", "content": message}]
                reply = ""
                async for piece in ctx.runner.pieces(handle, deadline):
                    reply += piece
                    yield (
                        "",
                        shown + [{"role": "assistant", "content": reply}],
                        answered_by(ctx.pool.name("chat"), backend),
                    )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        result = handle.result
        seconds = result.timings.get("total_s") if result else None
        yield (
            "",
            shown + [{"role": "assistant", "content": reply}],
            answered_by(ctx.pool.name("chat"), backend, seconds),
        )

    with gr.Tab("Chat", id="chat"):
        chatbot = gr.Chatbot(label="conversation", elem_id="chat-history", height=360)
        message = gr.Textbox(label="message", elem_id="chat-input")
        with gr.Row():
            chat_system = gr.Textbox(label="system prompt", lines=1)
            chat_max = slider(
                GenerateOptions, "max_new_tokens", "max new tokens", limit=ctx.limit, value=256
            )
            chat_temp = slider(GenerateOptions, "temperature", "temperature")
        with gr.Row():
            send = gr.Button("Send", variant="primary", elem_id="chat-button")
            clear = gr.Button("Clear")
        chat_info = gr.Markdown(elem_id="chat-model")
        inputs = [message, chatbot, chat_system, chat_max, chat_temp]
        send.click(chat, inputs, [message, chatbot, chat_info], api_name="chat")
        message.submit(chat, inputs, [message, chatbot, chat_info], api_name=False)
        clear.click(lambda: ([], ""), None, [chatbot, chat_info], api_name=False)


def summarize_tab(ctx: Context) -> None:
    import gradio as gr

    from ..tasks.summarize import SummarizeOptions

    async def summarize(text, url, upload, mode, sentences):
        from ..sources import load_text
        from . import calls

        text, url = _text(text), _text(url)
        given = [x for x in (text.strip(), url.strip(), upload) if x]
        try:
            if len(given) != 1:
                raise InvalidOptionError(
                    "give one of: text, a URL or a file", hint="clear the other inputs"
                )
            options = SummarizeOptions(mode=mode, sentences=int(sentences)).validate()
            if upload:
                path = uploaded(upload)

                def fetch():
                    return load_text(str(path))
            elif url.strip():

                def fetch():
                    return calls.fetch_document(url.strip(), ctx.pool.config.allow_private_urls)
            else:

                def fetch():
                    return text

            async with ctx.runner.admitted() as deadline:
                source = await ctx.runner.run(fetch, deadline)
                result = await ctx.runner.run(
                    lambda: calls.summarize(ctx.pool, source, options), deadline
                )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        finally:
            _remove(upload)  # the upload's copy is not kept
        seconds = result.timings.get("total_s")
        return result.summary, answered_by(
            result.model,
            None,
            seconds,
            f"{result.label()} · {result.input_words} → {result.output_words} words",
        )

    with gr.Tab("Summarize", id="summarize"):
        sum_text = gr.Textbox(label="text", lines=8, elem_id="summarize-input")
        with gr.Row():
            sum_url = gr.Textbox(label="…or a URL", elem_id="summarize-url")
            sum_file = gr.File(label="…or a file (txt, md, html, pdf, docx)", type="filepath")
        with gr.Row():
            sum_mode = gr.Radio(["auto", "extractive", "abstractive"], value="auto", label="mode")
            sum_len = slider(SummarizeOptions, "sentences", "length (sentences)", value=3)
        sum_run = gr.Button("Summarize", variant="primary", elem_id="summarize-button")
        sum_out = gr.Textbox(label="summary", lines=6, elem_id="summarize-output")
        sum_info = gr.Markdown(elem_id="summarize-model")
        sum_run.click(
            summarize,
            [sum_text, sum_url, sum_file, sum_mode, sum_len],
            [sum_out, sum_info],
            api_name="summarize",
        )


def classify_tab(ctx: Context) -> None:
    import gradio as gr

    async def classify(text, labels):
        from ..tasks.classify import classify as run

        try:
            async with ctx.runner.admitted() as deadline:
                result = await ctx.runner.run(
                    lambda: run(
                        _text(text), _text(labels) or None, backend=ctx.pool.backend("classify")
                    ),
                    deadline,
                )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        return result.scores, answered_by(
            ctx.pool.name("classify"), None, result.timings.get("total_s"), result.method
        )

    with gr.Tab("Classify", id="classify"):
        cls_text = gr.Textbox(label="text", lines=4, elem_id="classify-input")
        cls_labels = gr.Textbox(
            label="labels, comma-separated (empty = sentiment)",
            value="",
            elem_id="classify-labels",
        )
        cls_run = gr.Button("Classify", variant="primary", elem_id="classify-button")
        cls_out = gr.Label(label="scores", elem_id="classify-output")
        cls_info = gr.Markdown(elem_id="classify-model")
        cls_run.click(classify, [cls_text, cls_labels], [cls_out, cls_info], api_name="classify")


def transcribe_tab(ctx: Context) -> None:
    import gradio as gr

    async def transcribe(audio):
        from ..tasks.transcribe import TranscribeOptions
        from . import calls

        try:
            if not audio:
                raise EmptyInputError(
                    "no audio", hint="upload a file or record with the microphone"
                )
            path = uploaded(audio)
            async with ctx.runner.admitted() as deadline:
                result = await ctx.runner.run(
                    lambda: calls.transcribe(ctx.pool, path, TranscribeOptions(), name="upload"),
                    deadline,
                )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        finally:
            _remove(audio)
        return result.text, answered_by(
            ctx.pool.name("transcribe"),
            None,
            result.timings.get("total_s"),
            f"{result.duration:.1f} s of audio · language {result.language}",
        )

    with gr.Tab("Transcribe", id="transcribe"):
        audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="audio")
        tr_run = gr.Button("Transcribe", variant="primary", elem_id="transcribe-button")
        tr_out = gr.Textbox(label="transcript", lines=8, elem_id="transcribe-output")
        tr_info = gr.Markdown(elem_id="transcribe-model")
        tr_run.click(transcribe, [audio], [tr_out, tr_info], api_name="transcribe")


def tokenize_tab(ctx: Context) -> None:
    import gradio as gr

    async def tokenize(text):
        from ..tasks import tokenize as task

        try:
            async with ctx.runner.admitted() as deadline:
                result = await ctx.runner.run(
                    lambda: task.tokenize(
                        _text(text),
                        ctx.pool.name("tokenize"),
                        revision=ctx.pool.options.revision,
                    ),
                    deadline,
                )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        tokens = result.tokens[:TOKENS_SHOWN]
        spans = [(t.text, str(i % len(PALETTE))) for i, t in enumerate(tokens)]
        table = [[t.id, t.piece, t.text] for t in tokens]
        shown = f" · first {TOKENS_SHOWN} shown" if result.count > TOKENS_SHOWN else ""
        return (
            spans,
            table,
            answered_by(
                ctx.pool.name("tokenize"),
                extra=f"{result.count} tokens · vocab {result.vocab_size}{shown}",
            ),
        )

    with gr.Tab("Tokenize", id="tokenize"):
        tok_text = gr.Textbox(label="text", lines=3, elem_id="tokenize-input")
        tok_run = gr.Button("Tokenize", variant="primary", elem_id="tokenize-button")
        pieces = gr.HighlightedText(
            label="tokens",
            color_map={str(i): c for i, c in enumerate(PALETTE)},
            show_legend=False,
            show_inline_category=False,
            elem_id="tokenize-pieces",
        )
        ids = gr.Dataframe(headers=["id", "piece", "text"], label="ids", wrap=True)
        tok_info = gr.Markdown(elem_id="tokenize-model")
        tok_run.click(tokenize, [tok_text], [pieces, ids, tok_info], api_name="tokenize")


# task → its tab's builder, in the order the tabs appear
TABS = {
    "generate": generate_tab,
    "chat": chat_tab,
    "summarize": summarize_tab,
    "classify": classify_tab,
    "transcribe": transcribe_tab,
    "tokenize": tokenize_tab,
}
