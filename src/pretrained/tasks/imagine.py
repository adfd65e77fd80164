"""Text to image with diffusers: validated knobs, reproducible seeds, PNG files that carry
their own recipe (prompt, negative prompt, seed, steps, guidance, size, model@revision)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import runlog
from ..errors import EmptyInputError
from ..models.load_options import LoadOptions
from ..options import option, validate

TEXT_TO_IMAGE = "text-to-image"
MAX_SIDE = 4096
MAX_IMAGES = 16


def _side(name: str):
    """An image side: a multiple of 8 up to MAX_SIDE (the hint offers the nearest one)."""
    return option(
        None,
        f"{name.title()} in pixels.",
        ge=8,
        le=MAX_SIDE,
        multiple_of=8,
        hint=lambda v: f"e.g. --{name} {_nearest8(v)}",
    )


@dataclass(frozen=True)
class ImagineOptions:
    """None means: what the model is meant to run with (steps, guidance, size)."""

    steps: int | None = option(
        None,
        "Denoising steps.",
        ge=1,
        le=1000,
        hint="e.g. --steps 4 for SD-Turbo, --steps 25 for Stable Diffusion",
    )
    guidance: float | None = option(
        None,
        "Classifier-free guidance scale.",
        ge=0,
        le=100,
        hint="e.g. --guidance 7.5 (0 turns classifier-free guidance off)",
    )
    negative: str | None = option(None, "What the image should not show.", example='"blurry"')
    width: int | None = _side("width")
    height: int | None = _side("height")
    seed: int | None = option(None, "Random seed.", ge=0, le=2**63 - 1, example=7)
    num_images: int = option(1, "Images per prompt.", ge=1, le=MAX_IMAGES, example=4)

    def validate(self) -> ImagineOptions:
        return validate(self)

    def describe(self) -> dict[str, Any]:
        out = {
            "steps": self.steps,
            "guidance": self.guidance,
            "width": self.width,
            "height": self.height,
            "seed": self.seed,
        }
        if self.num_images > 1:
            out["num_images"] = self.num_images
        if self.negative:
            out["negative"] = self.negative
        return out


def _nearest8(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 512
    return min(MAX_SIDE, max(8, round(number / 8) * 8))


@dataclass
class GeneratedImage:
    path: str | None
    seed: int
    width: int
    height: int
    nsfw: bool = False  # blanked by the model's own safety checker
    image: Any = field(default=None, repr=False)  # PIL image; not in to_dict()

    def to_dict(self) -> dict[str, Any]:
        out = {"path": self.path, "seed": self.seed, "width": self.width, "height": self.height}
        if self.nsfw:
            out["nsfw"] = True
        return out


@dataclass
class ImagineResult:
    prompt: str
    images: list[GeneratedImage]
    model: str
    revision: str | None
    pipeline: str
    device: str
    dtype: str
    options: dict[str, Any]
    timings: dict[str, float | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "warnings": self.warnings,
            "images": [image.to_dict() for image in self.images],
            "model": self.model,
            "revision": self.revision,
            "pipeline": self.pipeline,
            "device": self.device,
            "dtype": self.dtype,
            "options": self.options,
            "timings": self.timings,
        }


def metadata(prompt: str, options: ImagineOptions, seed: int, model: str, revision: str | None):
    """The recipe written into each PNG (tEXt/iTXt chunks), also readable by other tools through
    the A1111-style `parameters` field."""
    from importlib.metadata import version

    ref = f"{model}@{revision}" if revision else model
    parameters = prompt
    if options.negative:
        parameters += f"\nNegative prompt: {options.negative}"
    parameters += (
        f"\nSteps: {options.steps}, CFG scale: {options.guidance}, Seed: {seed}, "
        f"Size: {options.width}x{options.height}, Model: {ref}"
    )
    return {
        "prompt": prompt,
        "negative_prompt": options.negative,
        "seed": seed,
        "steps": options.steps,
        "guidance": options.guidance,
        "width": options.width,
        "height": options.height,
        "model": ref,
        "parameters": parameters,
        "software": f"pretrained {version('pretrained')}",
    }


def imagine(
    prompt: str,
    model: str | None = None,
    options: ImagineOptions | None = None,
    *,
    out: str | Path | None = None,
    backend: Any = None,
    on_step: Callable[[int, int, float], None] | None = None,
    load_options: LoadOptions | None = None,
) -> ImagineResult:
    """Generate `num_images` images for `prompt`; save them to `out` (numbered when several).
    on_step(step, total_steps, seconds_since_start) is called after every denoising step."""
    from .. import media

    options = (options or ImagineOptions()).validate()
    if not isinstance(prompt, str) or not prompt.strip():
        raise EmptyInputError(
            "the prompt is empty", hint='e.g. pretrained imagine "a watercolor hippo"'
        )
    targets: list[Path | None] = [None] * options.num_images
    if out is not None:
        targets = list(
            media.numbered(
                media.check_output(out, media.IMAGE_FORMATS, "image"), options.num_images
            )
        )
    started = time.perf_counter()
    if backend is None:
        from ..models import load_image_pipeline

        backend = (load_options or LoadOptions()).call(load_image_pipeline, model)
    defaults = backend.defaults()
    width, height = backend.default_size()
    options = replace(
        options,
        steps=options.steps if options.steps is not None else defaults["steps"],
        guidance=options.guidance if options.guidance is not None else defaults["guidance"],
        width=options.width or width,
        height=options.height or height,
        seed=options.seed if options.seed is not None else random.randrange(2**31),
    )
    seeds = [options.seed + i for i in range(options.num_images)]
    warnings = []
    overflow = getattr(backend, "prompt_overflow", lambda _: None)(prompt)
    if overflow:
        warnings.append(
            f"the prompt is {overflow[0]} tokens; the text encoder reads only the first "
            f"{overflow[1]}, the rest is ignored"
        )
    runlog.annotate(
        task=TEXT_TO_IMAGE,
        model=backend.model_id,
        revision=backend.revision,
        device=backend.device,
        params=options.describe(),
        prompt=prompt,
        dtype=backend.dtype,
    )
    gen_start = time.perf_counter()
    first_step: list[float] = []

    def step(n: int) -> None:
        elapsed = time.perf_counter() - gen_start
        if not first_step:
            first_step.append(elapsed)
        if on_step is not None:
            on_step(n, options.steps, elapsed)

    images, flagged = backend.generate(
        prompt,
        negative=options.negative,
        steps=options.steps,
        guidance=options.guidance,
        width=options.width,
        height=options.height,
        seeds=seeds,
        on_step=step,
    )
    generate_s = time.perf_counter() - gen_start
    results = []
    for image, seed, nsfw, target in zip(images, seeds, flagged, targets, strict=True):
        path = None
        if target is not None:
            meta = metadata(prompt, options, seed, backend.model_id, backend.revision)
            path = str(media.save_image(image, target, meta))
        results.append(GeneratedImage(path, seed, image.width, image.height, nsfw, image))
    timings = {
        "load_s": round(getattr(backend, "load_seconds", 0.0) or 0.0, 3),
        "first_step_s": round(first_step[0], 3) if first_step else None,
        "generate_s": round(generate_s, 3),
        "total_s": round(time.perf_counter() - started, 3),
    }
    runlog.annotate(outputs=[r.path for r in results if r.path], seeds=seeds, timings=timings)
    return ImagineResult(
        prompt=prompt,
        images=results,
        model=backend.model_id,
        revision=backend.revision,
        pipeline=getattr(backend, "pipeline_class", "?"),
        device=backend.device,
        dtype=backend.dtype,
        options=options.describe(),
        timings=timings,
        warnings=warnings,
    )
