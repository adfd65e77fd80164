"""The browser UI: a Gradio app mounted in the same FastAPI app as the API.

Every tab calls the same task functions as the CLI and the API, on the models the server's pool
serves, and says which model answered. Tabs appear for the tasks the server serves. Each event
goes through the API's limits: the same admission slots, deadline, token limit and input checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path
from typing import Any

from ..errors import EmptyInputError, InvalidOptionError, PretrainedError, WorkCancelledError

PALETTE = ["#fde68a", "#bfdbfe", "#bbf7d0", "#fbcfe8", "#ddd6fe", "#fed7aa"]


def _gr_error(exc: PretrainedError):
    import gradio as gr

    return gr.Error(f"{exc.message} — {exc.hint}" if exc.hint else exc.message)


def answered_by(
    name: str, backend: Any = None, seconds: float | None = None, extra: str = ""
) -> str:
    """The line under each result: which model answered, on what, how fast."""
    parts = [f"answered by **{name}**"]
    model_id = getattr(backend, "model_id", None)
    if model_id and model_id != name:
        parts.append(f"`{model_id}`")
    revision = getattr(backend, "revision", None)
    if revision:
        parts.append(f"rev `{str(revision)[:12]}`")
    device = getattr(backend, "device", None)
    if device:
        parts.append(f"{getattr(backend, 'engine', '')} on {device}".strip())
    if seconds is not None:
        parts.append(f"{seconds:.2f} s")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


def _options(limit: int, **values: Any):
    """The UI's knobs → GenerateOptions, with the API's checks (the server's token limit)."""
    from ..tasks.generate import GenerateOptions
    from .limits import check_max_new_tokens

    seed = values.get("seed")
    stops = [s for s in (values.pop("stop", "") or "").split("\n") if s]
    try:
        seed = int(seed) if seed not in (None, "") else None
        max_new = int(values.get("max_new_tokens") or 128)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidOptionError("seed and max new tokens must be whole numbers") from exc
    check_max_new_tokens(max_new, limit)
    return GenerateOptions.from_kwargs(
        **{
            **values,
            "seed": seed,
            "stop": tuple(stops),
            "max_new_tokens": max_new,
            "top_k": int(values.get("top_k") or 0),
            "system": values.get("system") or None,
        }
    )


_END = object()


class Runner:
    """How a UI event runs, the same way as an API request: a slot from the server's admission
    (shared with the API), the server's deadline, and the work in the server's executor inside
    a cancel scope, stopped when the deadline passes or the browser goes away."""

    def __init__(self, server) -> None:
        self.server = server

    @contextlib.asynccontextmanager
    async def admitted(self):
        from .limits import Busy, QueueTimeout

        try:
            async with self.server.admission.slot() as deadline:
                yield deadline
        except (Busy, QueueTimeout) as exc:
            import gradio as gr

            raise gr.Error(str(exc)) from exc

    async def run(self, fn, deadline: float, cancel: threading.Event | None = None):
        from .limits import abandon, scoped

        cancel = cancel or threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.server.executor, scoped, cancel, fn)
        try:
            return await asyncio.wait_for(
                asyncio.shield(future), max(0.0, deadline - time.monotonic())
            )
        except asyncio.TimeoutError:
            abandon(future, cancel)
            raise WorkCancelledError(
                f"the request took longer than the server's limit of "
                f"{self.server.config.timeout_s:g}s"
            ) from None
        except asyncio.CancelledError:  # the browser went away
            abandon(future, cancel)
            raise

    async def pieces(self, handle, deadline: float):
        """The text pieces of a GenerationStream, each step in the executor. However it ends
        (done, deadline, browser gone), the stream is cancelled and then closed, once no step
        runs any more (a generator cannot be closed mid-step)."""
        steps = iter(handle)
        lock = threading.Lock()

        def step():
            with lock:
                return next(steps, _END)

        def close():
            with lock, contextlib.suppress(Exception):
                steps.close()
                handle.close()

        try:
            while True:
                piece = await self.run(step, deadline, handle.cancel)
                if piece is _END:
                    return
                yield piece
        finally:
            handle.cancel.set()
            self.server.executor.submit(close)


TOKENS_SHOWN = 5000  # the UI shows the first tokens of a long text (the API returns them all)


def build(server) -> Any:
    """→ a gr.Blocks wired to `server` (an app.Server: its pool, admission, limits)."""
    import gradio as gr

    pool = server.pool
    runner = Runner(server)
    limit = server.config.max_new_tokens

    def knobs():
        with gr.Accordion("Knobs", open=False):
            with gr.Row():
                max_new = gr.Slider(1, limit, value=min(128, limit), step=1, label="max new tokens")
                temperature = gr.Slider(
                    0, 2, value=0.7, step=0.05, label="temperature (0 = greedy)"
                )
            with gr.Row():
                top_k = gr.Slider(0, 200, value=50, step=1, label="top-k (0 = off)")
                top_p = gr.Slider(0.05, 1, value=0.95, step=0.01, label="top-p")
                rep = gr.Slider(0.5, 2, value=1.1, step=0.05, label="repetition penalty")
            with gr.Row():
                seed = gr.Number(value=None, precision=0, label="seed (empty = random)")
                stop = gr.Textbox(label="stop sequences (one per line)", lines=1)
        return [max_new, temperature, top_k, top_p, rep, seed, stop]

    async def generate(prompt, system, raw, max_new, temperature, top_k, top_p, rep, seed, stop):
        from ..tasks import generate as task

        try:
            options = _options(
                limit,
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
            async with runner.admitted() as deadline:
                backend = await runner.run(lambda: pool.backend("generate"), deadline)
                handle = await runner.run(
                    lambda: task.stream(_text(prompt), options=options, backend=backend),
                    deadline,
                )
                text = ""
                async for piece in runner.pieces(handle, deadline):
                    text += piece
                    yield text, answered_by(pool.name("generate"), backend)
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        result = handle.result
        if result is not None:
            yield (
                result.text,
                answered_by(
                    pool.name("generate"),
                    backend,
                    result.timings.get("total_s"),
                    f"{result.completion_tokens} tokens · seed {result.options.get('seed', '-')}",
                ),
            )

    async def chat(message, history, system, max_new, temperature):
        from ..tasks import chat as task

        history = list(history or [])
        message = _text(message)
        messages = [{"role": "system", "content": _text(system)}] if system else []
        messages += [{"role": m["role"], "content": _text(m["content"])} for m in history]
        messages.append({"role": "user", "content": message})
        try:
            options = _options(limit, max_new_tokens=max_new, temperature=temperature)
            task.check_messages(messages)
            async with runner.admitted() as deadline:
                backend = await runner.run(lambda: pool.backend("chat"), deadline)
                handle = await runner.run(
                    lambda: task.stream_chat(messages, options=options, backend=backend),
                    deadline,
                )
                shown = history + [{"role": "user", "content": message}]
                reply = ""
                async for piece in runner.pieces(handle, deadline):
                    reply += piece
                    yield (
                        "",
                        shown + [{"role": "assistant", "content": reply}],
                        answered_by(pool.name("chat"), backend),
                    )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        result = handle.result
        seconds = result.timings.get("total_s") if result else None
        yield (
            "",
            shown + [{"role": "assistant", "content": reply}],
            answered_by(pool.name("chat"), backend, seconds),
        )

    async def tokenize(text):
        from ..tasks import tokenize as task

        try:
            async with runner.admitted() as deadline:
                result = await runner.run(
                    lambda: task.tokenize(
                        _text(text), pool.name("tokenize"), revision=pool.options.get("revision")
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
                pool.name("tokenize"),
                extra=f"{result.count} tokens · vocab {result.vocab_size}{shown}",
            ),
        )

    async def summarize(text, url, upload, mode, sentences):
        from ..sources import load_text
        from ..tasks.summarize import SummarizeOptions
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
                    return calls.fetch_document(url.strip(), pool.config.allow_private_urls)
            else:

                def fetch():
                    return text

            async with runner.admitted() as deadline:
                source = await runner.run(fetch, deadline)
                result = await runner.run(lambda: calls.summarize(pool, source, options), deadline)
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        finally:
            _remove(upload)  # the upload's copy is not kept
        seconds = result.timings.get("total_s")
        return result.summary, answered_by(
            result.model,
            None,
            seconds,
            f"{result.mode} · {result.input_words} → {result.output_words} words",
        )

    async def classify(text, labels):
        from ..tasks.classify import classify as run

        try:
            async with runner.admitted() as deadline:
                result = await runner.run(
                    lambda: run(
                        _text(text), _text(labels) or None, backend=pool.backend("classify")
                    ),
                    deadline,
                )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        return result.scores, answered_by(
            pool.name("classify"), None, result.timings.get("total_s"), result.method
        )

    async def transcribe(audio):
        from ..tasks.transcribe import TranscribeOptions
        from . import calls

        try:
            if not audio:
                raise EmptyInputError(
                    "no audio", hint="upload a file or record with the microphone"
                )
            path = uploaded(audio)
            async with runner.admitted() as deadline:
                result = await runner.run(
                    lambda: calls.transcribe(pool, path, TranscribeOptions(), name="upload"),
                    deadline,
                )
        except PretrainedError as exc:
            raise _gr_error(exc) from exc
        finally:
            _remove(audio)
        return result.text, answered_by(
            pool.name("transcribe"),
            None,
            result.timings.get("total_s"),
            f"{result.duration:.1f} s of audio · language {result.language}",
        )

    with gr.Blocks(title="pretrained") as demo:
        gr.Markdown(
            "## pretrained\nModels served here: "
            + ", ".join(f"**{m['id']}** ({', '.join(m['tasks'])})" for m in pool.models())
        )
        with gr.Tabs():
            if pool.has("generate"):
                with gr.Tab("Generate", id="generate"):
                    prompt = gr.Textbox(label="prompt", lines=4, elem_id="generate-input")
                    with gr.Row():
                        system = gr.Textbox(label="system prompt", lines=1)
                        raw = gr.Checkbox(label="raw (no chat template)", value=False)
                    extra = knobs()
                    run = gr.Button("Generate", variant="primary", elem_id="generate-button")
                    output = gr.Textbox(label="output", lines=8, elem_id="generate-output")
                    info = gr.Markdown(elem_id="generate-model")
                    run.click(
                        generate, [prompt, system, raw, *extra], [output, info], api_name="generate"
                    )

            if pool.has("chat"):
                with gr.Tab("Chat", id="chat"):
                    chatbot = gr.Chatbot(label="conversation", elem_id="chat-history", height=360)
                    message = gr.Textbox(label="message", elem_id="chat-input")
                    with gr.Row():
                        chat_system = gr.Textbox(label="system prompt", lines=1)
                        chat_max = gr.Slider(
                            1, limit, value=min(256, limit), step=1, label="max new tokens"
                        )
                        chat_temp = gr.Slider(0, 2, value=0.7, step=0.05, label="temperature")
                    with gr.Row():
                        send = gr.Button("Send", variant="primary", elem_id="chat-button")
                        clear = gr.Button("Clear")
                    chat_info = gr.Markdown(elem_id="chat-model")
                    inputs = [message, chatbot, chat_system, chat_max, chat_temp]
                    send.click(chat, inputs, [message, chatbot, chat_info], api_name="chat")
                    message.submit(chat, inputs, [message, chatbot, chat_info], api_name=False)
                    clear.click(lambda: ([], ""), None, [chatbot, chat_info], api_name=False)

            if pool.has("summarize"):
                with gr.Tab("Summarize", id="summarize"):
                    sum_text = gr.Textbox(label="text", lines=8, elem_id="summarize-input")
                    with gr.Row():
                        sum_url = gr.Textbox(label="…or a URL", elem_id="summarize-url")
                        sum_file = gr.File(
                            label="…or a file (txt, md, html, pdf, docx)", type="filepath"
                        )
                    with gr.Row():
                        sum_mode = gr.Radio(
                            ["auto", "extractive", "abstractive"], value="auto", label="mode"
                        )
                        sum_len = gr.Slider(1, 15, value=3, step=1, label="length (sentences)")
                    sum_run = gr.Button("Summarize", variant="primary", elem_id="summarize-button")
                    sum_out = gr.Textbox(label="summary", lines=6, elem_id="summarize-output")
                    sum_info = gr.Markdown(elem_id="summarize-model")
                    sum_run.click(
                        summarize,
                        [sum_text, sum_url, sum_file, sum_mode, sum_len],
                        [sum_out, sum_info],
                        api_name="summarize",
                    )

            if pool.has("classify"):
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
                    cls_run.click(
                        classify, [cls_text, cls_labels], [cls_out, cls_info], api_name="classify"
                    )

            if pool.has("transcribe"):
                with gr.Tab("Transcribe", id="transcribe"):
                    audio = gr.Audio(
                        sources=["upload", "microphone"], type="filepath", label="audio"
                    )
                    tr_run = gr.Button("Transcribe", variant="primary", elem_id="transcribe-button")
                    tr_out = gr.Textbox(label="transcript", lines=8, elem_id="transcribe-output")
                    tr_info = gr.Markdown(elem_id="transcribe-model")
                    tr_run.click(transcribe, [audio], [tr_out, tr_info], api_name="transcribe")

            if pool.has("tokenize"):
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
                    tok_run.click(
                        tokenize, [tok_text], [pieces, ids, tok_info], api_name="tokenize"
                    )
    return demo


def _text(content: Any) -> str:
    """A text input or chatbot history content → plain, valid text (Gradio may hand back lists
    of parts; a client may send anything)."""
    from ..errors import check_unicode

    if isinstance(content, str):
        return check_unicode(content)
    if isinstance(content, list):
        return "".join(_text(c) for c in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    return str(content or "")


def upload_folder() -> Path:
    """Where Gradio keeps the files browsers upload (and the copies it makes of them)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def uploaded(value: Any) -> Path:
    """The path of a file a browser uploaded, refused unless it lies in Gradio's upload folder
    (symlinks resolved). A client can send any path in a FileData; the server must never open
    one it did not receive."""
    path = Path(str(value)).resolve()
    if not path.is_relative_to(upload_folder()) or not path.is_file():
        raise InvalidOptionError(
            "that file was not uploaded through this page", hint="upload the file again"
        )
    return path


def _remove(path: Any) -> None:
    """Delete an upload's copy once it has been read (only ever inside the upload folder)."""
    if not path:
        return
    with contextlib.suppress(OSError, InvalidOptionError):
        uploaded(path).unlink()
