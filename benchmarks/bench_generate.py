"""Generation speed: `pretrained.generate` vs plain transformers `model.generate` on the same
weights, in the same process, alternating runs so both see the same machine state."""

from __future__ import annotations

from benchmarks.run import median_of

PROMPT = "Write a short paragraph about the history of the bicycle."
NEW_TOKENS = 64


def run(args) -> list[dict]:
    import torch

    import pretrained
    from pretrained.models.loading import prepare
    from pretrained.models.registry import resolve

    prepare(resolve("smollm2-135m-instruct"))  # convert once if the cache is cold
    backend = pretrained.load("smollm2-135m-instruct", engine="transformers")
    load_s = backend.load_seconds  # torch/transformers import time excluded (reported separately)
    model, tok = backend.model, backend.tokenizer
    text = backend.render_chat([{"role": "user", "content": PROMPT}])
    ids = tok(text, return_tensors="pt", add_special_tokens=False)

    def ours():
        r = pretrained.generate(
            PROMPT,
            backend=backend,
            temperature=0,
            max_new_tokens=NEW_TOKENS,
            repetition_penalty=1.0,
        )
        assert r.completion_tokens > 0

    def plain():
        with torch.inference_mode():
            model.generate(
                **ids, max_new_tokens=NEW_TOKENS, do_sample=False, min_new_tokens=NEW_TOKENS
            )

    rows = []
    ours(), plain()  # warm-up
    probe = pretrained.generate(
        PROMPT, backend=backend, temperature=0, max_new_tokens=NEW_TOKENS, repetition_penalty=1.0
    )
    tokens = probe.completion_tokens
    t_ours, _ = median_of(ours, args.repeat)
    t_plain, _ = median_of(plain, args.repeat)
    rows.append(
        {
            "name": "tok/s batch 1 (transformers engine)",
            "ours": tokens / t_ours,
            "baseline": NEW_TOKENS / t_plain,
            "baseline_name": "transformers model.generate",
            "unit": "tok/s",
        }
    )
    rows.append(
        {
            "name": "model load, warm conversion cache (imports excluded)",
            "ours": load_s,
            "unit": "s",
            "higher_is_better": False,
            "note": f"imports took {backend.import_seconds:.2f}s",
        }
    )
    return rows
