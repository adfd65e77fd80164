"""Hugging Face text-to-speech models through transformers.

- VITS / MMS (facebook/mms-tts-*, kakao-enterprise/vits-*): `--voice` = speaker id for
  multi-speaker checkpoints, `--rate` = the model's own speaking_rate.
- SpeechT5 (microsoft/speecht5_tts): needs a vocoder (microsoft/speecht5_hifigan, loaded through
  the same safe Hub path) and a 512-d speaker x-vector: `--voice` = a .npy/.pt/.safetensors
  file, or an index into the CMU ARCTIC x-vectors (default 7306, the voice of the model card).
- Bark (suno/bark-small, suno/bark): `--voice` = a speaker preset such as v2/en_speaker_6.
- Anything else the `text-to-speech` pipeline loads (MusicGen, …) through that pipeline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ...errors import InputNotFoundError, InvalidOptionError, UnsupportedModelError
from ..registry import ModelFormat, ResolvedModel

SPEECHT5_VOCODER = "microsoft/speecht5_hifigan"
XVECTORS_DATASET = "Matthijs/cmu-arctic-xvectors"
DEFAULT_XVECTOR = 7306


class TransformersSpeechBackend:
    engine = "transformers"
    neural = True

    def __init__(
        self,
        kind: str,
        model: Any,
        processor: Any,
        resolved: ResolvedModel,
        revision: str | None,
        device: str,
        sample_rate: int,
        **extra: Any,
    ) -> None:
        self.kind = kind  # vits | speecht5 | bark | pipeline
        self.model = model
        self.processor = processor
        self.model_id = resolved.alias or resolved.id
        self.revision = revision
        self.device = device
        self.sample_rate = int(sample_rate)
        self.extra = extra
        self.load_seconds = 0.0
        self.max_chars = {"bark": 200, "speecht5": 300}.get(kind, 400)
        self._xvectors: dict[str, Any] = {}

    def voices(self) -> list[str]:
        if self.kind == "vits":
            speakers = getattr(self.model.config, "num_speakers", 1) or 1
            return [str(i) for i in range(speakers)] if speakers > 1 else []
        if self.kind == "bark":
            presets = getattr(self.processor, "speaker_embeddings", None) or {}
            return sorted(k for k in presets if k != "repo_or_path")
        if self.kind == "speecht5":
            return [f"{DEFAULT_XVECTOR} (CMU ARCTIC index 0-7930)", "PATH.npy (a 512-d x-vector)"]
        return []

    def _no_rate(self, rate: float) -> None:
        if rate != 1.0:
            raise InvalidOptionError(
                f"--rate is not supported by {self.kind} models",
                hint="drop --rate, or use a VITS/MMS model or espeak-ng, which support it",
            )

    def synthesize(self, text: str, *, voice: str | None = None, rate: float = 1.0):
        import torch

        with torch.inference_mode():
            if self.kind == "vits":
                return self._vits(text, voice, rate)
            self._no_rate(rate)
            if self.kind == "speecht5":
                inputs = self.processor(text=text, return_tensors="pt").to(self.device)
                speech = self.model.generate_speech(
                    inputs["input_ids"], self._xvector(voice), vocoder=self.extra["vocoder"]
                )
                return speech.float().cpu().numpy()
            if self.kind == "bark":
                inputs = self.processor(text, voice_preset=voice).to(self.device)
                audio = self.model.generate(**inputs)
                return audio[0].float().cpu().numpy()
            if voice:
                raise InvalidOptionError(
                    "this model has no voices to choose from", hint="drop --voice"
                )
            out = self.model(text)
            return out["audio"].reshape(-1)

    def _vits(self, text: str, voice: str | None, rate: float):
        self.model.speaking_rate = rate
        kwargs: dict[str, Any] = {}
        speakers = getattr(self.model.config, "num_speakers", 1) or 1
        if voice is not None:
            if not voice.isdigit() or int(voice) >= speakers:
                raise InvalidOptionError(
                    f"--voice for this model is a speaker id from 0 to {speakers - 1} (got {voice!r})",
                    hint="single-speaker models (MMS) take no --voice"
                    if speakers == 1
                    else "e.g. --voice 0",
                )
            kwargs["speaker_id"] = int(voice)
        inputs = self.processor(text, return_tensors="pt").to(self.device)
        if inputs["input_ids"].shape[-1] == 0:
            import numpy as np

            return np.zeros(0, dtype=np.float32)
        waveform = self.model(**inputs, **kwargs).waveform
        return waveform[0].float().cpu().numpy()

    def _xvector(self, voice: str | None):
        """A (1, 512) speaker embedding from a file or the CMU ARCTIC x-vectors."""
        import numpy as np
        import torch

        key = voice or str(DEFAULT_XVECTOR)
        if key not in self._xvectors:
            if key.isdigit():
                vector = _arctic_xvector(int(key))
            else:
                path = Path(key).expanduser()
                if not path.exists():
                    raise InputNotFoundError(
                        f"speaker embedding file not found: {path}",
                        hint="pass a .npy/.pt/.safetensors file with a 512-d x-vector, or an index such as 7306",
                    )
                if path.suffix == ".npy":
                    vector = np.load(path, allow_pickle=False)
                elif path.suffix == ".safetensors":
                    from safetensors.numpy import load_file

                    vector = next(iter(load_file(path).values()))
                else:
                    vector = torch.load(path, weights_only=True)
            tensor = torch.as_tensor(np.asarray(vector, dtype=np.float32)).reshape(1, -1)
            if tensor.shape[-1] != 512:
                raise InvalidOptionError(
                    f"a SpeechT5 speaker embedding has 512 values (got {tensor.shape[-1]})",
                    hint="use an x-vector from speechbrain/spkrec-xvect-voxceleb",
                )
            self._xvectors[key] = tensor.to(self.device, self.model.dtype)
        return self._xvectors[key]


def _arctic_xvector(index: int):
    """One x-vector from the CMU ARCTIC x-vectors (the Hub's parquet conversion of the dataset)."""
    from ... import settings
    from ..hub import hub_errors

    try:
        from datasets import load_dataset
    except ImportError as exc:
        from ...errors import missing_dependency

        raise missing_dependency("datasets", "train") from exc
    with hub_errors(XVECTORS_DATASET, "refs/convert/parquet"):
        data = load_dataset(
            XVECTORS_DATASET,
            split="validation",
            revision="refs/convert/parquet",
            token=settings.hf_token(),
        )
    if not 0 <= index < len(data):
        raise InvalidOptionError(
            f"CMU ARCTIC has x-vectors 0 to {len(data) - 1} (got {index})", hint="e.g. --voice 7306"
        )
    return data[index]["xvector"]


def load_speech_backend(
    resolved: ResolvedModel,
    *,
    device: str | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
    trust_pickle: bool = False,
) -> TransformersSpeechBackend:
    from ..loading import choose_device, choose_dtype, load_failure, prepare, quiet_transformers
    from ..registry import resolve

    start = time.time()
    if resolved.format != ModelFormat.TRANSFORMERS:
        raise UnsupportedModelError(
            f"{resolved.label} is a {resolved.format} model, not a text-to-speech model",
            hint="use a TTS model such as facebook/mms-tts-eng, or the default espeak-ng",
        )
    chosen = choose_device(device)
    torch_dtype = choose_dtype(chosen, dtype)
    prepared = prepare(resolved, trust_pickle=trust_pickle)
    config = json.loads((prepared.path / "config.json").read_text())
    model_type = config.get("model_type", "")
    common = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    if not trust_pickle:
        common["use_safetensors"] = True
    try:
        with quiet_transformers():
            if model_type == "vits":
                from transformers import AutoTokenizer, VitsModel

                model = VitsModel.from_pretrained(prepared.path, **common).to(chosen).eval()
                tok = AutoTokenizer.from_pretrained(prepared.path)
                backend = TransformersSpeechBackend(
                    "vits",
                    model,
                    tok,
                    resolved,
                    prepared.revision,
                    chosen,
                    model.config.sampling_rate,
                )
            elif model_type == "speecht5":
                from transformers import SpeechT5ForTextToSpeech, SpeechT5HifiGan, SpeechT5Processor

                model = (
                    SpeechT5ForTextToSpeech.from_pretrained(prepared.path, **common)
                    .to(chosen)
                    .eval()
                )
                processor = SpeechT5Processor.from_pretrained(prepared.path)
                vocoder_dir = prepare(resolve(SPEECHT5_VOCODER), trust_pickle=trust_pickle).path
                vocoder = SpeechT5HifiGan.from_pretrained(vocoder_dir, **common).to(chosen).eval()
                backend = TransformersSpeechBackend(
                    "speecht5",
                    model,
                    processor,
                    resolved,
                    prepared.revision,
                    chosen,
                    vocoder.config.sampling_rate,
                    vocoder=vocoder,
                )
            elif model_type == "bark":
                from transformers import AutoProcessor, BarkModel

                model = BarkModel.from_pretrained(prepared.path, **common).to(chosen).eval()
                processor = AutoProcessor.from_pretrained(prepared.path)
                backend = TransformersSpeechBackend(
                    "bark",
                    model,
                    processor,
                    resolved,
                    prepared.revision,
                    chosen,
                    model.generation_config.sample_rate,
                )
            else:
                from transformers import pipeline

                pipe = pipeline("text-to-speech", model=str(prepared.path), device=chosen, **common)
                rate = pipe.sampling_rate
                backend = TransformersSpeechBackend(
                    "pipeline", pipe, None, resolved, prepared.revision, chosen, rate
                )
    except (OSError, ValueError, KeyError) as exc:
        raise load_failure(
            resolved,
            exc,
            "as a text-to-speech model",
            "use a TTS model such as facebook/mms-tts-eng, microsoft/speecht5_tts or suno/bark-small",
        ) from exc
    backend.load_seconds = time.time() - start
    return backend
