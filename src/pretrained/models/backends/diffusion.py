"""The text-to-image engine: any diffusers pipeline (Stable Diffusion 1.x/2.x/XL, SD-Turbo,
tiny-sd, …) loaded safely from a Hub id or a local folder through the same code path.

Device/dtype: fp16 on CUDA (and MPS), fp32 on CPU — the task warns that CPU is slow.
Seeds: one CPU `torch.Generator` per image, so a (prompt, seed, model@revision, size, steps)
gives the same picture on any device.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from ...errors import InvalidOptionError, UnsupportedModelError
from ..registry import ResolvedModel

# Distilled one-step models want very few steps and no classifier-free guidance.
FEW_STEP_MARKERS = ("turbo",)


@contextlib.contextmanager
def quiet_diffusers() -> Iterator[None]:
    """Silence diffusers' warnings and tqdm bars (we show our own progress)."""
    from diffusers.utils import logging as d_logging

    verbosity = d_logging.get_verbosity()
    d_logging.set_verbosity_error()
    d_logging.disable_progress_bar()
    try:
        yield
    finally:
        d_logging.set_verbosity(verbosity)
        d_logging.enable_progress_bar()


class DiffusionBackend:
    engine = "diffusers"

    def __init__(
        self,
        pipe: Any,
        resolved: ResolvedModel,
        revision: str | None,
        device: str,
        dtype: str,
        variant: str | None,
        quantize: str | None,
        load_seconds: float,
    ) -> None:
        self.pipe = pipe
        self.resolved = resolved
        self.model_id = resolved.alias or resolved.id
        self.revision = revision
        self.device = device
        self.dtype = dtype
        self.variant = variant
        self.quantize = quantize
        self.load_seconds = load_seconds
        self.pipeline_class = type(pipe).__name__
        self._params = inspect.signature(pipe.__call__).parameters

    # ------------------------------------------------------------ knobs
    def defaults(self) -> dict[str, Any]:
        """Steps and guidance the model is meant to run with (the pipeline's own call defaults,
        except distilled few-step models such as SD-Turbo: 1 step, no guidance)."""
        name = f"{self.resolved.hub_id or ''} {self.resolved.name}".lower()
        if any(marker in name for marker in FEW_STEP_MARKERS):
            return {"steps": 1, "guidance": 0.0}

        def default(param: str, fallback: Any) -> Any:
            value = self._params[param].default if param in self._params else fallback
            return fallback if value is inspect.Parameter.empty or value is None else value

        return {
            "steps": int(default("num_inference_steps", 50)),
            "guidance": float(default("guidance_scale", 7.5)),
        }

    def default_size(self) -> tuple[int, int]:
        """(width, height) the pipeline uses when none is given."""
        denoiser = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        sample = getattr(getattr(denoiser, "config", None), "sample_size", None) or 64
        scale = getattr(self.pipe, "vae_scale_factor", 8) or 8
        if isinstance(sample, (list, tuple)):
            return int(sample[1] * scale), int(sample[0] * scale)
        return int(sample * scale), int(sample * scale)

    def supports(self, param: str) -> bool:
        return param in self._params

    def prompt_overflow(self, prompt: str) -> tuple[int, int] | None:
        """(prompt tokens, limit) when the text encoder will cut the prompt, else None."""
        tokenizer = getattr(self.pipe, "tokenizer", None)
        limit = getattr(tokenizer, "model_max_length", None)
        if tokenizer is None or not isinstance(limit, int) or limit > 100_000:
            return None
        count = len(tokenizer(prompt, verbose=False)["input_ids"])
        return (count, limit) if count > limit else None

    # ------------------------------------------------------------ generation
    def generate(
        self,
        prompt: str,
        *,
        negative: str | None,
        steps: int,
        guidance: float,
        width: int,
        height: int,
        seeds: list[int],
        on_step: Callable[[int], None] | None = None,
    ) -> tuple[list[Any], list[bool]]:
        """→ (PIL images, whether each one was blanked by the model's safety checker)."""
        import torch

        if negative and not self.supports("negative_prompt"):
            raise InvalidOptionError(
                f"{self.pipeline_class} does not take a negative prompt",
                hint="drop --negative for this model",
            )
        kwargs: dict[str, Any] = {
            "prompt": [prompt] * len(seeds),
            "num_inference_steps": steps,
            "width": width,
            "height": height,
            # CPU generators: the same seed gives the same image on CPU, CUDA and MPS.
            "generator": [torch.Generator("cpu").manual_seed(s) for s in seeds],
            "output_type": "pil",
        }
        if self.supports("guidance_scale"):
            kwargs["guidance_scale"] = guidance
        if negative:
            kwargs["negative_prompt"] = [negative] * len(seeds)
        if on_step is not None and self.supports("callback_on_step_end"):

            def callback(pipe, step, timestep, callback_kwargs):  # noqa: ARG001
                on_step(step + 1)
                return callback_kwargs

            kwargs["callback_on_step_end"] = callback
        from ..loading import quiet_transformers

        with quiet_diffusers(), quiet_transformers(), torch.inference_mode():
            out = self.pipe(**kwargs)
        flagged = getattr(out, "nsfw_content_detected", None) or [False] * len(out.images)
        return list(out.images), [bool(f) for f in flagged]


def _components(folder) -> list[str]:
    index = json.loads((folder / "model_index.json").read_text())
    return [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v[0]]


def load_diffusion_backend(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    dtype: str | None = None,
    quantize: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
) -> DiffusionBackend:
    import torch

    from ..loading import (
        choose_device,
        choose_dtype,
        diffusers_quantization,
        dtype_name,
        load_failure,
        prepare_diffusers,
        quiet_transformers,
    )

    # diffusers imports bitsandbytes when installed, which warns about optional CPU kernels.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        from diffusers import DiffusionPipeline
    except ImportError as exc:
        from ...errors import missing_dependency

        raise missing_dependency("diffusers", "image") from exc
    start = time.time()
    chosen = choose_device(device)
    if dtype in (None, "auto"):
        # fp16 is what diffusion checkpoints ship and run in on GPUs; CPUs need fp32.
        torch_dtype = torch.float32 if chosen == "cpu" else torch.float16
    else:
        torch_dtype = choose_dtype(chosen, dtype)
    want = "fp16" if torch_dtype == torch.float16 else None
    prepared, variant = prepare_diffusers(resolved, variant=want, trust_pickle=trust_pickle)
    quant = diffusers_quantization(quantize, chosen, _components(prepared.path))
    kwargs: dict[str, Any] = {
        "dtype": torch_dtype,
        "variant": variant,
        "trust_remote_code": trust_remote_code,
    }
    if not trust_pickle:
        kwargs["use_safetensors"] = True
    if quant is not None:
        kwargs["quantization_config"] = quant
    try:
        with quiet_diffusers(), quiet_transformers():
            pipe = DiffusionPipeline.from_pretrained(prepared.path, **kwargs)
            pipe.to(chosen)
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise load_failure(
            resolved, exc, "as a diffusers pipeline", "check the model folder or Hub id"
        ) from exc
    if not callable(pipe) or "prompt" not in inspect.signature(pipe.__call__).parameters:
        raise UnsupportedModelError(
            f"{resolved.label} ({type(pipe).__name__}) is not a text-to-image pipeline",
            hint="pick a text-to-image model, e.g. --model stabilityai/sd-turbo",
        )
    pipe.set_progress_bar_config(disable=True)
    return DiffusionBackend(
        pipe,
        resolved,
        prepared.revision,
        chosen,
        dtype_name(torch_dtype) if quant is None else f"{quantize} (bitsandbytes)",
        variant,
        quantize,
        time.time() - start,
    )
