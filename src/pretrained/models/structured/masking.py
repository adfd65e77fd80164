"""Token masks from llguidance: the tokenizer view, the first-token check, and the logits
processor the transformers engine decodes with. (llama.cpp applies the same grammars itself,
through its built-in llguidance sampler: backends/llamacpp.py sends `%llguidance` grammars.)"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from ...errors import ConstraintError

_tokenizers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def ll_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a tokenizer (built once per tokenizer object: ≈0.3 s for a 49k
    vocabulary). Takes our FastTokenizer (a `tokenizers.Tokenizer` inside) or a transformers
    fast tokenizer."""
    import llguidance

    with _lock:
        found = _tokenizers.get(tokenizer)
        if found is not None:
            return found
        inner = getattr(tokenizer, "tokenizer", None)
        if inner is not None and hasattr(inner, "to_str") and hasattr(tokenizer, "eos_ids"):
            made = llguidance.LLTokenizer(inner.to_str(), eos_token=tokenizer.eos_ids or None)
        elif hasattr(tokenizer, "backend_tokenizer"):
            import llguidance.hf

            made = llguidance.hf.from_tokenizer(tokenizer)
        else:
            raise ConstraintError(
                "this model's tokenizer has no fast (tokenizers) form, which constrained "
                "decoding needs",
                hint="use a model with a tokenizer.json",
            )
        _tokenizers[tokenizer] = made
        return made


def matcher(tokenizer: Any, lark: str) -> Any:
    """A fresh LLMatcher for `lark`, refused when it cannot start: a grammar error, or no token
    of this vocabulary can begin an output it allows."""
    import llguidance

    ll = ll_tokenizer(tokenizer)
    found = llguidance.LLMatcher(ll, llguidance.LLMatcher.grammar_from_lark(lark), log_level=0)
    if found.is_error():
        raise ConstraintError(
            f"the constraint cannot be applied: {found.get_error().strip().splitlines()[0]}"
        )
    probe = found.deep_copy()
    probe.compute_bitmask()  # an empty language shows here: the matcher errs, only EOS is left
    if probe.is_error() or (probe.is_stopped() and not probe.is_accepting()):
        raise ConstraintError(
            "the constraint can never be met: no output of this model's tokens matches it",
            hint="loosen the regex or schema",
        )
    return found


def check_satisfiable(tokenizer: Any, lark: str) -> None:
    """ConstraintError now (before decoding) if `lark` cannot start under this tokenizer."""
    matcher(tokenizer, lark)


def logits_processor(tokenizer: Any, lark: str, rows: int):
    """A transformers LogitsProcessor that masks every token the grammar does not allow next,
    one llguidance matcher per batch row (a row that finished keeps being fed padding, which
    is ignored once its matcher stopped)."""
    import torch
    from llguidance.torch import fill_next_token_bitmask
    from transformers import LogitsProcessor

    matchers = [matcher(tokenizer, lark) for _ in range(rows)]
    ll = ll_tokenizer(tokenizer)
    eos = ll.eos_tokens or [ll.eos_token]

    class GrammarMask(LogitsProcessor):
        def __init__(self) -> None:
            self.start: int | None = None
            self.bitmask = torch.full((rows, (ll.vocab_size + 31) // 32), -1, dtype=torch.int32)

        def __call__(self, input_ids, scores):
            if self.start is None:
                self.start = input_ids.shape[1]
            elif input_ids.shape[1] > self.start:
                for row, m in enumerate(matchers):
                    if not m.is_stopped():
                        m.consume_token(int(input_ids[row, -1]))
            for row, m in enumerate(matchers):
                if m.is_error():  # cannot happen for tokens it allowed; end the row cleanly
                    self.bitmask[row] = 0
                    for token in eos:
                        bit = 1 << (token % 32)
                        self.bitmask[row, token // 32] |= bit - 2**32 if bit >= 2**31 else bit
                else:  # a stopped matcher allows EOS only
                    fill_next_token_bitmask(m, self.bitmask, row)
            return apply_bitmask(scores, self.bitmask)

    return GrammarMask()


def apply_bitmask(scores, bitmask):
    """Scores with every token whose bit is 0 set to -inf (the vocabulary may be wider than
    the tokenizer's: padded embedding rows are never allowed)."""
    import torch

    bits = torch.arange(32, dtype=torch.int32)
    allowed = ((bitmask.unsqueeze(-1) >> bits) & 1).bool().reshape(bitmask.shape[0], -1)
    vocab = scores.shape[-1]
    if allowed.shape[1] < vocab:
        pad = torch.zeros(allowed.shape[0], vocab - allowed.shape[1], dtype=torch.bool)
        allowed = torch.cat([allowed, pad], dim=1)
    allowed = allowed[:, :vocab].to(scores.device)
    return scores.masked_fill(~allowed, float("-inf"))


def step_logprobs(logits: tuple, row: int, ids: list[int], top: int, tokenizer: Any):
    """OpenAI-shaped logprobs of the tokens `ids` chosen at each step, from the raw logits of
    those steps (the model's own distribution, before sampling knobs and the grammar mask)."""
    import torch

    out = []
    for step, token in enumerate(ids):
        logp = torch.log_softmax(logits[step][row].float(), dim=-1)
        best = torch.topk(logp, top).indices.tolist() if top else []
        out.append(
            {
                **_entry(tokenizer, token, float(logp[token])),
                "top_logprobs": [_entry(tokenizer, t, float(logp[t])) for t in best],
            }
        )
    return out


def _entry(tokenizer: Any, token: int, logprob: float) -> dict[str, Any]:
    text = tokenizer.decode([token])
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}
