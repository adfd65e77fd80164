"""The quality canary: does an engine compute what the float32 reference computes?

- teacher-forced next-token agreement with the reference on a few ordinary texts (a pick
  counts as agreeing when it is the reference's own, or a near-tie for it): the prefill path;
- the engine's own greedy replies to a few chat prompts, scored by the reference (the margin
  by which it prefers its own next token), and checked for degenerate loops: the decode path.

`check` runs them cheapest and most decisive first and stops at the first failure.
"""

from __future__ import annotations

import re
import time

from .results import REFERENCE, Trial

# Ordinary text of the kinds users send: prose, instructions, a list, code, numbers.
CANARY_TEXTS = (
    "The bicycle was invented in the early nineteenth century. Early models had no pedals, "
    "and riders pushed themselves along with their feet.",
    "To make a cup of tea, boil fresh water, pour it over the leaves, and let it steep for "
    "three to five minutes before you remove them.",
    "Paris is the capital of France. Berlin is the capital of Germany, and Madrid is the "
    "capital of Spain.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # prints 5",
)
CANARY_PROMPTS = (
    "Write a short slogan for a coffee shop.",
    "Name three animals that live in the ocean.",
    "How do I boil an egg?",
    "What is the difference between weather and climate?",
)
# Predictions compared per canary text (evenly spaced positions after the first few tokens).
POSITIONS_PER_TEXT = 8
# The reference's logit for its own pick may beat the engine's pick by less than this
# (quantization moves logits by ≈0.1–0.6 on the embedded model; a broken path by ≫ 1).
NEAR_TIE = 1.0
# Share of canary positions that must agree.
MIN_AGREEMENT = 0.8
# The greedy path: for each canary reply, the largest amount by which the reference, fed the
# same prefix, rates one of the engine's tokens below its own choice; averaged over the
# replies. Measured on the embedded SmolLM2 over 10 ordinary prompts (AMD EPYC Zen 5):
# CTranslate2 float32 and llama.cpp Q4_1 ≤ 0.32 per reply, CTranslate2 int8 0.16–0.82
# (mean 0.52), the saturating int8 path (oneDNN held to AVX2) 0.52–3.31 (mean 1.27).
PATH_MARGIN = 1.0
GREEDY_TOKENS = 24


class _Reference:
    """The float32 transformers model's view of the canary: token ids, its top predictions at
    the compared positions, and (computed when needed) its own greedy replies."""

    def __init__(self, backend) -> None:
        import torch

        self.backend = backend
        self.texts = [backend.tokenizer(t)["input_ids"] for t in CANARY_TEXTS]
        self.positions = [_positions(len(ids)) for ids in self.texts]
        self.top: list[list[dict[int, float]]] = []
        with torch.inference_mode():
            for ids, positions in zip(self.texts, self.positions, strict=True):
                logits = backend.model(input_ids=torch.tensor([ids])).logits[0].float()
                rows = []
                for p in positions:
                    values, indices = logits[p].topk(10)
                    rows.append(dict(zip(indices.tolist(), values.tolist(), strict=True)))
                self.top.append(rows)
        self._greedy: dict[str, str] = {}

    def agreement(self, picks: list[list[int]]) -> float:
        agree = total = 0
        for rows, got in zip(self.top, picks, strict=True):
            for top, pick in zip(rows, got, strict=True):
                total += 1
                agree += _agrees(top, pick)
        return agree / total if total else 0.0

    def path(self, pairs: list[tuple[list[int], list[int]]]) -> list[float]:
        """Per (prompt ids, reply ids): the largest margin by which the reference, given the
        prompt and the reply so far, prefers its own next token over the engine's."""
        return [max(m) for m in path_margins(self.backend, pairs) if m]

    def greedy(self, prompt: str) -> str:
        if prompt not in self._greedy:
            pairs, _ = _greedy_ids(self.backend, [prompt])
            self._greedy[prompt] = _decode(self.backend, pairs[0][1])
        return self._greedy[prompt]


def path_margins(reference, pairs: list[tuple[list[int], list[int]]]) -> list[list[float]]:
    """Per reply, per token: the reference's logit for its own choice minus its logit for the
    token the engine chose, given the same prefix (one batched forward pass of the reference;
    right padding, so every real position sees what it would alone)."""
    import torch

    context = getattr(reference, "context_length", None) or 1 << 30
    pairs = [(p, r[: max(0, context - len(p))]) for p, r in pairs]
    longest = max((len(p) + len(r) for p, r in pairs), default=0)
    if not any(r for _, r in pairs):
        return [[] for _ in pairs]
    ids = torch.zeros(len(pairs), longest, dtype=torch.long)
    mask = torch.zeros(len(pairs), longest, dtype=torch.long)
    for i, (p, r) in enumerate(pairs):
        ids[i, : len(p) + len(r)] = torch.tensor(p + r)
        mask[i, : len(p) + len(r)] = 1
    with torch.inference_mode():
        logits = reference.model(input_ids=ids, attention_mask=mask).logits.float()
    out = []
    for i, (p, r) in enumerate(pairs):
        if not r:
            out.append([])
            continue
        rows = logits[i, len(p) - 1 : len(p) + len(r) - 1]
        chosen = rows.gather(1, torch.tensor(r).unsqueeze(1)).squeeze(1)
        out.append((rows.max(dim=1).values - chosen).tolist())
    return out


def _agrees(top: dict[int, float], pick: int) -> bool:
    """The reference's own pick, or one whose logit is within NEAR_TIE of it."""
    return pick in top and max(top.values()) - top[pick] < NEAR_TIE


def _positions(n: int) -> list[int]:
    """Evenly spaced positions (index of the last token seen) past the first three tokens."""
    first, last = min(3, n - 1), n - 2
    if last < first:
        return []
    step = max(1, (last - first) // max(1, POSITIONS_PER_TEXT - 1))
    return list(range(first, last + 1, step))[:POSITIONS_PER_TEXT]


def next_token_picks(
    backend, texts: list[list[int]], positions: list[list[int]]
) -> list[list[int]]:
    """Teacher-forced: the engine's greedy next token after each prefix `ids[: p + 1]`."""
    if backend.engine == "ctranslate2":
        import numpy as np

        out = []
        for ids, pos in zip(texts, positions, strict=True):
            logits = np.asarray(backend.generator.forward_batch([ids]))[0]
            out.append([int(logits[p].argmax()) for p in pos])
        return out
    if backend.engine == "llama.cpp":
        from ..backends.base import SamplingParams

        params = SamplingParams(max_new_tokens=1, temperature=0)
        prefixes = [ids[: p + 1] for ids, pos in zip(texts, positions, strict=True) for p in pos]
        picks: list[int] = []
        for chunk in backend._chunks(prefixes, 1):
            picks += [
                r.ids[0] if r.ids else -1 for r in backend._request(chunk, params, 0.0, ids=True)
            ]
        out, i = [], 0
        for pos in positions:
            out.append(picks[i : i + len(pos)])
            i += len(pos)
        return out
    raise ValueError(f"no teacher-forced canary for the {backend.engine} engine")


def _prompt_ids(backend, prompt: str) -> list[int]:
    text = backend.render_chat([{"role": "user", "content": prompt}])
    tokenizer = backend.tokenizer
    if hasattr(tokenizer, "encode") and backend.engine != REFERENCE:
        return tokenizer.encode(text, False)  # FastTokenizer: same ids as transformers'
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _greedy_ids(
    backend, prompts: list[str], max_new_tokens: int = GREEDY_TOKENS
) -> tuple[list[tuple[list[int], list[int]]], float]:
    """([(prompt ids, greedy reply ids without EOS)], seconds) for prompts decoded as one
    batch: the engine's own tokens, not the reply re-tokenized (that is not what it chose)."""
    from ..backends.base import SamplingParams

    encoded = [_prompt_ids(backend, p) for p in prompts]
    started = time.perf_counter()
    if backend.engine == "ctranslate2":
        results = backend.generator.generate_batch(
            [backend.tokenizer.tokens(ids) for ids in encoded],
            max_length=max_new_tokens,
            sampling_topk=1,
            include_prompt_in_result=False,
            end_token=backend.tokenizer.eos_ids or None,
        )
        replies = [list(r.sequences_ids[0]) for r in results]
    elif backend.engine == "llama.cpp":
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0)
        replies = []
        for chunk in backend._chunks(encoded, max_new_tokens):
            runs = backend._request(chunk, params, started, ids=True)
            replies += [[t for t in r.ids if t not in backend.tokenizer.eos_ids] for r in runs]
    elif backend.engine == REFERENCE:
        import torch

        eos = set(backend._eos_ids)
        replies = []
        for ids in encoded:  # one at a time: no padding in the reference's own replies
            with torch.inference_mode():
                out = backend.model.generate(
                    input_ids=torch.tensor([ids]),
                    attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=backend.tokenizer.pad_token_id,
                )
            replies.append([t for t in out[0, len(ids) :].tolist() if t not in eos])
    else:
        raise ValueError(f"no greedy canary for the {backend.engine} engine")
    return list(zip(encoded, replies, strict=True)), time.perf_counter() - started


def _decode(backend, ids: list[int]) -> str:
    return backend.tokenizer.decode(ids, skip_special_tokens=True) if ids else ""


def degenerate(text: str) -> bool:
    """A greedy loop: the same word four times in a row, or mostly repeated word 3-grams."""
    words = re.findall(r"\w+|[^\w\s]", text.lower())
    if any(len(set(words[i : i + 4])) == 1 for i in range(len(words) - 3)):
        return True
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return len(grams) >= 12 and len(set(grams)) / len(grams) < 0.5


def check(backend, trial: Trial, truth: _Reference | None) -> None:
    """The canary on one engine, stopping at the first check that fails: greedy loops (no
    reference needed), then teacher-forced agreement, then the greedy path margin."""
    pairs, _ = _greedy_ids(backend, list(CANARY_PROMPTS))
    loops = []
    for prompt, (_, reply) in zip(CANARY_PROMPTS, pairs, strict=True):
        text = _decode(backend, reply)
        trial.sample = trial.sample or text[:60]
        if degenerate(text) and not (truth is not None and degenerate(truth.greedy(prompt))):
            loops.append(text[:40])
    trial.degenerate = bool(loops)
    reasons = [f"greedy loop: {loops[0]!r}"] if loops else []
    if truth is not None and not reasons:
        picks = next_token_picks(backend, truth.texts, truth.positions)
        trial.agreement = truth.agreement(picks)
        if trial.agreement < MIN_AGREEMENT:
            reasons.append(f"agreement {trial.agreement:.0%} < {MIN_AGREEMENT:.0%}")
    if truth is not None and not reasons:
        margins = truth.path(pairs)
        trial.path_margin = sum(margins) / len(margins) if margins else None
        if trial.path_margin is not None and trial.path_margin > PATH_MARGIN:
            reasons.append(f"greedy path margin {trial.path_margin:.2f} > {PATH_MARGIN}")
    trial.passed = not reasons
    trial.reason = "; ".join(reasons)
