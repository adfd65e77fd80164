"""Merge a run's LoRA adapter into its base weights → `runs/<name>/merged/` (safetensors).

The base is loaded afresh in full or half precision, never the 4-bit copy a QLoRA run trained
on: adding low-rank updates to nf4 weights would round them away. The merged model loads with
plain transformers, with no peft and no adapter indirection.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..errors import ModelLoadError


def merge_run(run_dir: str | Path, *, device: str | None = None) -> Path:
    """Write `run_dir/merged/` and return its path (replacing an older merge)."""
    from ..models.loading import (
        choose_device,
        load_causal_lm,
        publish_dir,
        quiet_peft,
        quiet_transformers,
        read_run_config,
        run_base,
    )

    with quiet_peft():
        from peft import PeftModel

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    adapter = run_dir / "adapter"
    if config is None or not (adapter / "adapter_config.json").exists():
        raise ModelLoadError(
            f"'{run_dir}' is not a LoRA run folder (no config.yaml + adapter/)",
            hint="merge runs trained with --method lora or qlora; full fine-tunes are already whole",
        )
    chosen = choose_device(device)
    recorded = str((config.get("resolved") or {}).get("dtype", "float32"))
    dtype = "float32"
    if chosen.startswith("cuda"):
        # the dtype the run trained in, except 4-bit (QLoRA): merge into a 16-bit copy instead
        dtype = "auto" if "bit" in recorded else recorded
    with quiet_transformers(), quiet_peft():
        loaded = load_causal_lm(run_base(config), device=chosen, dtype=dtype)
        model = PeftModel.from_pretrained(loaded.model, adapter).merge_and_unload()
        final = run_dir / "merged"
        tmp = Path(tempfile.mkdtemp(dir=run_dir, prefix=".merged-"))
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            loaded.tokenizer.save_pretrained(tmp)
            if final.exists():
                shutil.rmtree(final)
            publish_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
