"""`pretrained imagine`: text to image with a diffusers pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as o
from ._output import info, note, print_json, progress


def imagine(
    prompt: Annotated[
        str, typer.Argument(help="What to draw. '-' reads stdin.", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Image file (.png keeps the recipe in its metadata)."),
    ] = Path("image.png"),
    model: o.Model = None,
    revision: o.Revision = None,
    device: o.Device = None,
    dtype: o.Dtype = None,
    quantize: o.Quantize = None,
    trust_remote_code: o.TrustRemoteCode = False,
    trust_pickle: o.TrustPickle = False,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps",
            help="Denoising steps (default: the model's own).",
            rich_help_panel=o.KNOB_PANEL,
        ),
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option(
            "--guidance",
            help="Classifier-free guidance scale; 0 = off.",
            rich_help_panel=o.KNOB_PANEL,
        ),
    ] = None,
    negative: Annotated[
        str | None,
        typer.Option(
            "--negative", help="What the image should not show.", rich_help_panel=o.KNOB_PANEL
        ),
    ] = None,
    width: Annotated[
        int | None,
        typer.Option("--width", help="Pixels, a multiple of 8.", rich_help_panel=o.KNOB_PANEL),
    ] = None,
    height: Annotated[
        int | None,
        typer.Option("--height", help="Pixels, a multiple of 8.", rich_help_panel=o.KNOB_PANEL),
    ] = None,
    seed: o.Seed = None,
    num_images: Annotated[
        int,
        typer.Option(
            "--num-images",
            help="Images to make (seeds seed, seed+1, …).",
            rich_help_panel=o.KNOB_PANEL,
        ),
    ] = 1,
    json_out: o.Json = False,
    quiet: o.Quiet = False,
) -> None:
    """Generate images from a text prompt with a diffusion model (default: stabilityai/sd-turbo)."""
    from ..models.registry import resolve
    from ..tasks import imagine as task
    from ._text import text_argument

    options = task.ImagineOptions(
        steps=steps,
        guidance=guidance,
        negative=negative,
        width=width,
        height=height,
        seed=seed,
        num_images=num_images,
    ).validate()
    prompt = text_argument(prompt, "prompt", 'pretrained imagine "a watercolor hippo"')
    silent = quiet or json_out
    from ..media import IMAGE_FORMATS, check_output

    check_output(out, IMAGE_FORMATS, "image")
    resolved = resolve(model, task=task.TEXT_TO_IMAGE, revision=revision)
    default = "" if model else " [default for this task; --model to change]"
    from ..models import load_image_pipeline
    from ._output import spinner

    with spinner(f"loading {resolved.label}…", quiet=silent):
        backend = load_image_pipeline(
            model or resolved.name,
            revision=revision,
            device=device,
            dtype=dtype,
            quantize=quantize,
            trust_remote_code=trust_remote_code,
            trust_pickle=trust_pickle,
        )
    info(
        f"model: {resolved.label}{default} · {backend.pipeline_class} · {backend.device} {backend.dtype}"
        + (f" · loaded in {backend.load_seconds:.1f}s" if backend.load_seconds else ""),
        quiet=silent,
    )
    if backend.device == "cpu":
        note(
            "warning: running on CPU in float32 — diffusion is slow here (minutes per image for "
            "full-size models); a time estimate follows the first step",
            quiet=silent,
        )
    shown: list[bool] = []
    with progress(
        options.steps or backend.defaults()["steps"], "denoising", quiet=silent
    ) as advance:

        def on_step(step: int, total: int, elapsed: float) -> None:
            advance(1)
            if step == 1 and not shown and total > 1:
                shown.append(True)
                info(
                    f"estimate: ~{elapsed * total:.0f}s for {total} steps ({elapsed:.1f}s per step)",
                    quiet=silent,
                )

        result = task.imagine(prompt, options=options, out=out, backend=backend, on_step=on_step)
    info(
        "knobs: "
        + " ".join(
            f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in result.options.items()
        ),
        quiet=silent,
    )
    for warning in result.warnings:
        note(f"warning: {warning}", quiet=silent)
    if json_out:
        print_json(result.to_dict())
        return
    for image in result.images:
        flag = " (blanked by the model's safety checker)" if image.nsfw else ""
        typer.echo(f"{image.path}  {image.width}x{image.height}  seed={image.seed}{flag}")
    info(
        f"{result.timings['generate_s']}s generating · {result.timings['total_s']}s total",
        quiet=quiet,
    )


def register(app: typer.Typer) -> None:
    app.command("imagine")(imagine)
