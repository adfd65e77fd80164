"""Greedy parity of an exported generator against the original, shared by every format.

A greedy continuation of the export either equals the original's, or it leaves it at some
token. Quantization (and, far less, a different runtime's float rounding) moves logits a
little, so where the original's top two candidates are nearly tied the export may take the
other one, and from there the texts legitimately part. Anything else is a broken export.
The notion of "nearly tied" is the engine calibration's (`models/calibrate.py`): the original,
fed the export's own prefix, prefers its token over the export's by less than NEAR_TIE logits;
the teacher-forced agreement and the path margin along the export's replies use the same
thresholds as the canary that decides which engine may serve a model.

An export passes cleanly when every greedy text is equal; passes with a warning — naming the
prompt, the token, both candidates and the margin — when each difference starts at a near-tie;
fails otherwise, or when the agreement or the path margin is beyond the canary's bounds.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ..models.calibrate.canary import MIN_AGREEMENT, NEAR_TIE, PATH_MARGIN, _agrees, path_margins


def cut_reply(ids: list[int], eos: list[int], limit: int) -> list[int]:
    """A greedy reply up to and including its first EOS, at most `limit` tokens."""
    ids = list(ids)[:limit]
    for i, token in enumerate(ids):
        if token in eos:
            return ids[: i + 1]
    return ids


def parity_prompts(tokenizer, prompts) -> list[tuple[str, list[int]]]:
    """(prompt, ids): the prompts as text to continue and, when the model has a chat template,
    two of the calibration canary's chat prompts rendered with it (chat replies are where a
    broken int8 path shows first)."""
    from ..models.calibrate import CANARY_PROMPTS

    out = [(p, tokenizer(p)["input_ids"]) for p in prompts]
    if getattr(tokenizer, "chat_template", None):
        for p in CANARY_PROMPTS[:2]:
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            out.append((p, tokenizer(text, add_special_tokens=False)["input_ids"]))
    return out


def _reference_reply(model, tokenizer, ids: list[int], eos: list[int], n: int) -> list[int]:
    import torch

    with torch.inference_mode():
        out = model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=eos or None,
            pad_token_id=tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else (eos or [0])[0],
        )
    return cut_reply(out[0, len(ids) :].tolist(), eos, n)


def near_tie_agreement(ref_logits, got_logits) -> float:
    """Share of positions where the export's top token is the original's, or a near-tie for
    it under the original's logits (calibrate's `_agrees`, over full rows)."""
    agree = 0
    for ref, got in zip(ref_logits, got_logits, strict=True):
        top = ref.argsort()[-10:]
        agree += _agrees({int(i): float(ref[i]) for i in top}, int(got.argmax()))
    return agree / max(1, len(ref_logits))


def compare_greedy(
    model,
    tokenizer,
    cases: list[tuple[str, list[int], list[int], list[int]]],
    eos: list[int],
) -> dict[str, Any]:
    """cases: (prompt, prompt ids, original reply, export reply), replies cut by `cut_reply`.
    `model` is the original (a transformers causal LM), which scores the export's replies."""
    margins = path_margins(SimpleNamespace(model=model), [(p, got) for _, p, _, got in cases])
    rows = []

    def text(ids: list[int]) -> str:
        return tokenizer.decode([t for t in ids if t not in eos], skip_special_tokens=True)

    def token(ids: list[int], i: int) -> str:
        if i >= len(ids):
            return "(end: token limit)"
        return "(EOS)" if ids[i] in eos else tokenizer.decode([ids[i]])

    for (prompt, _, ref, got), margin in zip(cases, margins, strict=True):
        row: dict[str, Any] = {
            "prompt": prompt,
            "original": text(ref),
            "export": text(got),
            "equal": ref == got,
            "original_stops": bool(ref and ref[-1] in eos),
            "export_stops": bool(got and got[-1] in eos),
        }
        if ref != got:
            at = next((i for i, (a, b) in enumerate(zip(ref, got, strict=False)) if a != b), None)
            at = min(len(ref), len(got)) if at is None else at
            gap = margin[at] if at < len(margin) else float("inf")
            row.update(
                diverges_at=at,
                original_token=token(ref, at),
                export_token=token(got, at),
                margin=round(gap, 3),
                near_tie=gap < NEAR_TIE,
            )
        rows.append(row)
    path = [max(m) for m in margins if m]
    return {
        "greedy": rows,
        "greedy_equal": f"{sum(r['equal'] for r in rows)}/{len(rows)}",
        "path_margin": round(sum(path) / len(path), 3) if path else 0.0,
    }


def verdict(report: dict[str, Any], cause: str, agreement_key: str | None) -> None:
    """Set report["passed"], ["warnings"], ["threshold"] from the greedy rows (compare_greedy),
    the path margin and, when given, the teacher-forced agreement under `agreement_key`."""
    rows = report["greedy"]
    broken = [r for r in rows if not r["equal"] and not r.get("near_tie")]
    ties = [r for r in rows if not r["equal"] and r.get("near_tie")]
    problems = [
        f"greedy text of {r['prompt']!r} leaves the original at token {r['diverges_at']}: "
        f"the original prefers {r['original_token']!r} over the export's {r['export_token']!r} "
        f"by {r['margin']:.2f} logits (≥ {NEAR_TIE}: not a near-tie)"
        for r in broken
    ]
    if report["path_margin"] > PATH_MARGIN:
        problems.append(
            f"greedy path margin {report['path_margin']:.2f} > {PATH_MARGIN} (the original "
            "rates the export's own replies well below its choices)"
        )
    agreement = report.get(agreement_key) if agreement_key else None
    if agreement is not None and agreement < MIN_AGREEMENT:
        problems.append(f"teacher-forced agreement {agreement:.0%} < {MIN_AGREEMENT:.0%}")
    report["warnings"] = [
        f"greedy text of {r['prompt']!r} differs from token {r['diverges_at']}: "
        f"{r['export_token']!r} instead of {r['original_token']!r}, which the original rates "
        f"only {r['margin']:.2f} logits lower (a near-tie, < {NEAR_TIE}); {cause} moves logits "
        "by that much, so the texts part there"
        for r in ties
    ]
    report["problems"] = problems
    report["threshold"] = (
        f"greedy text equal, or parting only at near-ties (< {NEAR_TIE} logits); path margin "
        f"≤ {PATH_MARGIN}" + (f"; {agreement_key} ≥ {MIN_AGREEMENT}" if agreement_key else "")
    )
    report["passed"] = not problems


def portable_generation(src, portable, module, options, prompts, texts) -> dict[str, Any]:
    """ONNX / CTranslate2 generators: logits on every position of the sample texts (max abs
    difference, near-tie agreement) and the greedy continuations of the prompts."""
    import numpy as np
    import torch

    tokenizer = portable.tokenizer
    inner = module.model
    eos = [
        i for i in {tokenizer.eos_token_id, inner.generation_config.eos_token_id} if i is not None
    ]
    diffs, ref_rows, got_rows = [], [], []
    for text in (*prompts, *texts):
        ids = tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            ref = module(ids["input_ids"], ids["attention_mask"]).numpy()[0]
        got = portable.logits(ids["input_ids"][0].tolist())
        diffs.append(float(np.abs(ref - got).max()))
        ref_rows += list(ref)
        got_rows += list(got)
    n = options.max_new_tokens
    cases = []
    for prompt, prompt_ids in parity_prompts(tokenizer, prompts):
        ref = _reference_reply(inner, tokenizer, prompt_ids, eos, n)
        got = cut_reply(portable.greedy(prompt_ids, n, eos), eos, n)
        if eos and len(got) < n and (not got or got[-1] not in eos):
            got.append(eos[0])  # CTranslate2 leaves out the end token it stopped at
        cases.append((prompt, prompt_ids, ref, got))
    report = {
        "samples": len(prompts) + len(texts),
        "positions": len(ref_rows),
        "max_abs_diff": max(diffs),
        "top1_agreement": float(
            np.mean([r.argmax() == g.argmax() for r, g in zip(ref_rows, got_rows, strict=True)])
        ),
        "near_tie_agreement": near_tie_agreement(ref_rows, got_rows),
        "greedy_tokens": n,
        **compare_greedy(inner, tokenizer, cases, eos),
    }
    quantized = options.quantize is not None
    cause = f"{options.quantize} quantization" if quantized else "float rounding in the runtime"
    verdict(report, cause, "near_tie_agreement")
    if not quantized and report["max_abs_diff"] > 1e-2:
        report["problems"].append(f"max abs diff {report['max_abs_diff']:.3g} > 1e-2 (float32)")
        report["passed"] = False
    return report


def gguf_generation(folder, gguf_file, options, prompts, model_id: str) -> dict[str, Any]:
    """A GGUF file through llama.cpp (xllamacpp) against the transformers model it was made
    from: the calibration canary's teacher-forced agreement, the greedy continuations of the
    prompts (chat-templated when the model has a chat template) and whether they stop at EOS."""
    import time

    from ..models.backends.base import SamplingParams
    from ..models.backends.fast_tokenizer import FastTokenizer
    from ..models.backends.llamacpp import LlamaCppTextBackend
    from ..models.backends.transformers import TransformersTextBackend
    from ..models.calibrate.canary import _Reference, next_token_picks
    from ..models.loading import load_causal_lm
    from ..models.registry import resolve

    reference = TransformersTextBackend(load_causal_lm(resolve(str(folder)), device="cpu"))
    engine = LlamaCppTextBackend(gguf_file, FastTokenizer(folder), model_id=model_id, revision=None)
    try:
        truth = _Reference(reference)
        agreement = truth.agreement(next_token_picks(engine, truth.texts, truth.positions))
        tokenizer, eos, n = reference.tokenizer, reference._eos_ids, options.max_new_tokens
        params = SamplingParams(max_new_tokens=n, temperature=0)
        cases = []
        for prompt, ids in parity_prompts(tokenizer, prompts):
            ref = _reference_reply(reference.model, tokenizer, ids, eos, n)
            run = engine._request([ids], params, time.perf_counter(), ids=True)[0]
            cases.append((prompt, ids, ref, cut_reply(run.ids, eos, n)))
        report = {
            "runtime": "llama.cpp (xllamacpp)",
            "agreement": round(agreement, 3),
            "greedy_tokens": n,
            **compare_greedy(reference.model, tokenizer, cases, eos),
        }
    finally:
        del engine
    rows = report["greedy"]
    stops = [r for r in rows if r["original_stops"]]
    report["eos"] = {
        "ids": eos,
        "tokens": [tokenizer.convert_ids_to_tokens(i) for i in eos],
        "stops": f"{sum(r['export_stops'] for r in stops)}/{len(stops)}",
    }
    cause = (
        "f16 rounding" if options.quantize in (None, "f16") else f"{options.quantize} quantization"
    )
    verdict(report, cause, "agreement")
    return report
