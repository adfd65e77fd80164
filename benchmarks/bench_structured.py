"""Constrained decoding on the embedded SmolLM2, side by side in one process (docs/structured.md):

- constrained (a JSON schema, llguidance inside llama.cpp) against free decoding of the same
  prompts on the same llama.cpp backend, in turns: decode time per token (after the first
  token) and whole-request time per token (prompt, grammar set-up and first token included);
- the grammar engine choice, on the same prompts and schemas: llguidance against llama.cpp's
  own JSON-schema → GBNF grammars (tok/s, and how many outputs validate), and the per-token
  mask cost of llguidance against outlines-core (the other installed engine; Index + Guide
  replayed over the same valid outputs' tokens), with how many of the schemas each compiles.
"""

from __future__ import annotations

import json
import statistics
import time

MODEL = "smollm2-135m-instruct"


def _obj(**props):
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}  # fmt: skip


_S, _I, _B = {"type": "string", "maxLength": 40}, {"type": "integer"}, {"type": "boolean"}
CASES = [
    ("Name a big city and its population.", _obj(city=_S, population=_I)),
    ("Describe a person with a name and an age.", _obj(name=_S, age=_I)),
    ("Is water wet? Answer with a boolean and a reason.", _obj(answer=_B, reason=_S)),
    ("List three fruits.", _obj(fruits={"type": "array", "items": _S, "minItems": 3, "maxItems": 3})),
    ("Rate the movie Up from 1 to 5.", _obj(title=_S, stars={"type": "integer", "minimum": 1, "maximum": 5})),
    ("What is the sentiment of 'I love it'?", _obj(sentiment={"enum": ["positive", "negative", "neutral"]})),
    ("Give a book with its author and year.", _obj(title=_S, author=_S, year=_I)),
    ("Convert 3 km to meters.", _obj(km={"type": "number"}, meters={"type": "number"})),
    ("Give a colour with a name and a hex code.", _obj(name=_S, hex={"type": "string", "pattern": "^#[0-9a-f]{6}$"})),
    ("Describe a pet: its kind and whether it is friendly.", _obj(kind=_S, friendly=_B, owner=_obj(name=_S))),
]  # fmt: skip


def _decode_rate(results) -> tuple[float, float]:
    """→ (decode seconds per token after the first, whole-request seconds per token)."""
    decode = [
        (r.timings["total_s"] - (r.timings["first_token_s"] or 0)) / (r.completion_tokens - 1)
        for r in results
        if r.completion_tokens > 1
    ]
    whole = [r.timings["total_s"] / r.completion_tokens for r in results if r.completion_tokens]
    return statistics.median(decode), statistics.median(whole)


def _gbnf(backend, prompt: str, schema: dict) -> tuple[str, int, float]:
    """llama.cpp's own JSON-schema grammar (GBNF), same sampler settings as ours."""
    from pretrained.models.backends.base import SamplingParams

    ids = backend.tokenizer.encode(
        backend.render_chat([{"role": "user", "content": prompt}]), False
    )
    body = backend._body([ids], SamplingParams(max_new_tokens=120, temperature=0), False)
    body.update(stream=False, json_schema=schema, repeat_penalty=1.1)
    began = time.perf_counter()
    reply = backend.server.handle_completions(body)
    seconds = time.perf_counter() - began
    return reply["choices"][0]["text"], reply["usage"]["completion_tokens"], seconds


def _outlines_vocabulary(tokenizer):
    """outlines-core's Vocabulary of a byte-level BPE tokenizer (token bytes → ids)."""
    import outlines_core

    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    byte_of = {chr(c): b for b, c in zip(printable, codes, strict=True)}
    table: dict[bytes, list[int]] = {}
    for token, i in tokenizer.tokenizer.get_vocab().items():
        if i in tokenizer.eos_ids:
            continue
        key = (
            bytes(byte_of[ch] for ch in token)
            if all(ch in byte_of for ch in token)
            else token.encode()
        )
        table.setdefault(key, []).append(i)
    return outlines_core.Vocabulary(tokenizer.eos_ids[0], table)


def _mask_costs(tokenizer, outputs: list[tuple[dict, str]]) -> dict:
    """Per-token mask time of llguidance and outlines-core over the same token sequences."""
    import llguidance
    import outlines_core
    from outlines_core.json_schema import build_regex_from_schema

    from pretrained.models.structured.constraint import Constraint
    from pretrained.models.structured.masking import ll_tokenizer

    ll = ll_tokenizer(tokenizer)
    vocab = _outlines_vocabulary(tokenizer)
    out = {"ll_s": 0.0, "ll_tokens": 0, "oc_s": 0.0, "oc_tokens": 0, "ll_compile": [],
           "oc_compile": [], "oc_failed": 0}  # fmt: skip
    for schema, text in outputs:
        ids = tokenizer.encode(text, False)
        lark = Constraint("json_schema", json.dumps(schema)).lark()
        began = time.perf_counter()
        matcher = llguidance.LLMatcher(
            ll, llguidance.LLMatcher.grammar_from_lark(lark), log_level=0
        )
        out["ll_compile"].append(time.perf_counter() - began)
        began = time.perf_counter()
        for token in ids:
            matcher.compute_bitmask()
            matcher.consume_token(token)
        out["ll_s"] += time.perf_counter() - began
        out["ll_tokens"] += len(ids)
        try:
            began = time.perf_counter()
            guide = outlines_core.Guide(
                outlines_core.Index(build_regex_from_schema(json.dumps(schema)), vocab)
            )
            out["oc_compile"].append(time.perf_counter() - began)
            began = time.perf_counter()
            for token in ids:
                guide.get_tokens()
                guide.advance(token)
            out["oc_s"] += time.perf_counter() - began
            out["oc_tokens"] += len(ids)
        except (ValueError, RuntimeError, TypeError):  # a schema it cannot compile or a token
            out["oc_failed"] += 1  # of a valid output that its index refuses
    return out


def run(args) -> list[dict]:
    import pretrained
    from pretrained.models.backends import create_text_backend
    from pretrained.models.registry import resolve
    from pretrained.models.structured import schema_violation

    backend = create_text_backend(resolve(MODEL), "llama.cpp")
    pretrained.generate("Hello", backend=backend, temperature=0, max_new_tokens=8)  # warm up
    free, constrained, gbnf = [], [], []
    outputs: list[tuple[dict, str]] = []
    for _ in range(max(1, args.repeat)):
        for prompt, schema in CASES:  # in turns: free, ours, llama.cpp GBNF
            free.append(
                pretrained.generate(prompt, backend=backend, temperature=0, max_new_tokens=64)
            )
            result = pretrained.generate(
                prompt, backend=backend, temperature=0, max_new_tokens=120, json_schema=schema
            )
            constrained.append(result)
            # replayed through both mask engines as compact JSON (", " and ": "), which the
            # whitespace rules of both accept
            outputs.append((schema, json.dumps(json.loads(result.text), ensure_ascii=False)))
            gbnf.append(_gbnf(backend, prompt, schema))
    free_decode, free_whole = _decode_rate(free)
    ours_decode, ours_whole = _decode_rate(constrained)
    gbnf_valid = sum(
        1
        for (text, _, _), (_, schema) in zip(gbnf, CASES * max(1, args.repeat), strict=True)
        if _valid(text, schema, schema_violation)
    )
    gbnf_rate = statistics.median(n / s for _, n, s in gbnf if n)
    ll_rate = statistics.median(r.completion_tokens / r.timings["total_s"] for r in constrained)
    masks = _mask_costs(backend.tokenizer, outputs[: len(CASES)])
    note = f"{len(CASES)} prompts × {max(1, args.repeat)}, greedy, llama.cpp (the engine constrained requests run on)"
    return [
        {"name": "decode s/token: json_schema (llguidance) vs free", "ours": ours_decode,
         "baseline": free_decode, "baseline_name": "free decoding, same backend, in turns",
         "unit": "s/token", "ratio": free_decode / ours_decode,
         "time_ratio": ours_decode / free_decode, "note": note},
        {"name": "whole request s/token: json_schema vs free", "ours": ours_whole,
         "baseline": free_whole, "baseline_name": "free decoding (64 tokens), in turns",
         "unit": "s/token", "ratio": free_whole / ours_whole,
         "time_ratio": ours_whole / free_whole, "note": note + "; prompt + grammar set-up included"},
        {"name": f"json_schema tok/s, outputs valid: ours {len(constrained)}/{len(constrained)}, GBNF {gbnf_valid}/{len(gbnf)}",
         "ours": ll_rate, "baseline": gbnf_rate,
         "baseline_name": "llama.cpp's own json_schema → GBNF grammar",
         "unit": "tok/s", "ratio": ll_rate / gbnf_rate},
        {"name": f"mask + advance per token: llguidance vs outlines-core (outlines-core took {len(CASES) - masks['oc_failed']}/{len(CASES)} outputs)",
         "ours": masks["ll_s"] / masks["ll_tokens"] * 1000,
         "baseline": masks["oc_s"] / max(1, masks["oc_tokens"]) * 1000,
         "baseline_name": "outlines-core Index + Guide (same tokens)", "unit": "ms",
         "ratio": (masks["oc_s"] / max(1, masks["oc_tokens"])) / (masks["ll_s"] / masks["ll_tokens"]),
         "note": f"compile median: llguidance {statistics.median(masks['ll_compile']) * 1000:.1f} ms, "
                 f"outlines-core {statistics.median(masks['oc_compile'] or [0]) * 1000:.1f} ms"},
    ]  # fmt: skip


def _valid(text: str, schema: dict, violation) -> bool:
    try:
        return violation(json.loads(text), schema) is None
    except json.JSONDecodeError:
        return False
