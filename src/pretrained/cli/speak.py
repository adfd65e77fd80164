"""`pretrained speak`: text to speech (espeak-ng offline by default, or a Hugging Face model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._output import info, print_json, progress, spinner


def speak(
    text: Annotated[
        str | None, typer.Argument(help="Text to speak. '-' reads stdin.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Read the text from a file.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Audio file: .wav, .mp3 or .ogg.")
    ] = Path("speech.wav"),
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    voice: Annotated[
        str | None,
        typer.Option(
            "--voice",
            help="espeak-ng: a language/voice (en-us, en-gb+f3 …); VITS: a speaker id; "
            "SpeechT5: an x-vector file or CMU ARCTIC index; Bark: a preset (v2/en_speaker_6).",
            rich_help_panel=o.KNOB_PANEL,
        ),
    ] = None,
    rate: Annotated[
        float,
        typer.Option(
            "--rate",
            help="Speed: 1.0 normal, 1.5 faster, 0.75 slower.",
            rich_help_panel=o.KNOB_PANEL,
        ),
    ] = 1.0,
    pause: Annotated[
        float,
        typer.Option(
            "--pause", help="Seconds of silence between sentences.", rich_help_panel=o.KNOB_PANEL
        ),
    ] = 0.2,
    list_voices: Annotated[
        bool, typer.Option("--list-voices", help="List the voices of the engine and exit.")
    ] = False,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Turn text into speech (default: espeak-ng, offline and instant but not a neural voice)."""
    from ..media import AUDIO_FORMATS, check_output
    from ..models.load_options import LoadOptions
    from ..models.registry import resolve
    from ..tasks import speak as task
    from ._text import text_argument

    silent = quiet or json_out
    options = task.SpeakOptions(voice=voice, rate=rate, pause=pause).validate()
    if not list_voices:
        text = text_argument(text, "text", 'pretrained speak "Hello" --out hello.wav', file=file)
        check_output(out, AUDIO_FORMATS, "audio")
    resolved = resolve(model, task=task.TEXT_TO_SPEECH, revision=revision)
    default = "" if model else " [default for this task; --model to change]"
    with spinner(f"loading {resolved.label}…", quiet=silent):
        load = LoadOptions(
            revision=revision,
            device=device,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            trust_pickle=trust_pickle,
        )
        backend = task.load_backend(model, load)
    if list_voices:
        voices = backend.voices()
        if json_out:
            print_json({"model": backend.model_id, "voices": voices})
        else:
            typer.echo("\n".join(voices) if voices else "(this model has a single voice)")
        return
    loaded = f" · loaded in {backend.load_seconds:.1f}s" if backend.load_seconds else ""
    if backend.neural:
        line = f"model: {resolved.label}{default} · neural TTS · {backend.device}{loaded}"
    else:
        line = (
            f"model: {backend.model_id}{default} — a rule-based synthesizer, NOT a neural model "
            "(for a neural voice: --model facebook/mms-tts-eng)"
        )
    info(line, quiet=silent)
    chunks = task.split_sentences(text, backend.max_chars)
    with progress(len(chunks), "speaking", quiet=silent) as advance:
        result = task.speak(text, options=options, out=out, backend=backend, on_progress=advance)
    if json_out:
        print_json(result.to_dict())
        return
    typer.echo(result.path)
    info(
        f"{result.duration_s:.1f}s of audio at {result.sample_rate} Hz · {result.sentences} "
        f"sentence(s) · voice={options.voice or 'default'} rate={options.rate} · "
        f"synthesized in {result.timings['synthesis_s']}s",
        quiet=quiet,
    )


def register(app: typer.Typer) -> None:
    app.command("speak")(speak)
