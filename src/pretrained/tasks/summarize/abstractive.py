"""Abstractive map-reduce: chunks packed to the model's context, partial summaries combined
level by level, extractive pre-compression when a level still does not fit."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ...errors import InvalidOptionError
from ..chunking import Span, pack, split_sentences
from .cleaning import candidates
from .extractive import embed_units, extract
from .options import DEFAULT_CHUNK_TOKENS, PART_WORDS, SummarizeOptions

# ---------------------------------------------------------------- abstractive summary
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|okay|certainly)[,!.]?\s*)?(?:here(?:'s| is) (?:a |the |an )?"
    r"(?:concise |short |brief |combined |final )*summary[^:\n]*:|summary\s*:)\s*",
    re.IGNORECASE,
)


def _tidy(text: str) -> str:
    return _PREAMBLE.sub("", text.strip()).strip()


def _counter(backend: Any) -> Callable[[list[str]], list[int]]:
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None and callable(tokenizer):
        return lambda texts: [
            len(ids)
            for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        ]
    return lambda texts: [backend.count_tokens(t, add_special_tokens=False) for t in texts]


class _Prompter:
    """Builds the model input for a piece of text, and knows how many tokens the instructions
    around it cost, so chunks are packed to what is left of the context window."""

    def __init__(self, backend: Any, options: SummarizeOptions) -> None:
        self.backend = backend
        self.options = options
        self.seq2seq = bool(getattr(backend, "is_encoder_decoder", False))
        self.chat = backend.has_chat_template and not self.seq2seq
        self.prefix = getattr(backend, "task_prefix", "") if self.seq2seq else ""

    def instruction(self, length: str) -> str:
        focus = f" Focus on: {self.options.focus}." if self.options.focus else ""
        return f"Write a summary of this text {length}. Keep names, numbers and facts.{focus}"

    def prompt(self, text: str, length: str) -> str:
        """Small chat models follow an instruction placed after the text best; the reduce step
        gets the same plain request (asking to "combine partial summaries" confuses them)."""
        if self.seq2seq:
            return self.prefix + text
        if self.chat:
            return f"Text:\n{text}\n\n{self.instruction(length)}"
        return f"{text}\n\nTL;DR:"

    def rendered(self, prompt: str) -> str:
        """What the engine actually reads (the chat template around the prompt)."""
        if self.chat:
            return self.backend.render_chat([{"role": "user", "content": prompt}])
        return prompt

    def overhead(self, count: Callable[[list[str]], list[int]], length: str) -> int:
        empty = self.rendered(self.prompt("", length))
        return count([empty])[0] + 8  # + a little for the joins and special tokens


def _length_phrase(max_words: int | None, max_sentences: int | None) -> str:
    if max_sentences is not None:
        return f"in {max_sentences} sentence{'s' if max_sentences > 1 else ''}"
    return f"in about {max_words} words"


def _new_tokens(max_words: int | None, max_sentences: int | None) -> int:
    if max_sentences is not None:
        return 40 * max_sentences + 24
    return int(1.7 * (max_words or 100)) + 24


def first_sentences(text: str, n: int) -> str:
    spans = split_sentences(text)
    return " ".join(s.text for s in spans[:n]) if len(spans) > n else text


class Abstractive:
    def __init__(self, backend, options: SummarizeOptions, embedder_fn, progress) -> None:
        self.backend = backend
        self.options = options
        self.embedder_fn = embedder_fn
        self.progress = progress
        self.count = _counter(backend)
        self.prompter = _Prompter(backend, options)
        self.levels: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.prompt_tokens = 0
        self.new_tokens = 0
        self.calls = 0

    def budget(self, new_tokens: int, length: str) -> int:
        context = self.backend.context_length or 1024
        reserve = 0 if self.prompter.seq2seq else new_tokens
        room = context - self.prompter.overhead(self.count, length) - reserve - 16
        chunk = self.options.chunk_tokens or (
            DEFAULT_CHUNK_TOKENS if not self.prompter.seq2seq else room
        )
        budget = min(chunk, room)
        if budget < 64:
            raise InvalidOptionError(
                f"{self.backend.model_id} has a {context}-token context: too small to summarize "
                f"with {new_tokens} new tokens",
                hint="ask for a shorter summary (--words 60) or use a model with a longer context",
            )
        return budget

    def generate(self, prompts: list[str], new_tokens: int, stage: str) -> list[str]:
        from ..generate import GenerateOptions, generate_many

        if self.prompter.seq2seq:  # the decoder has its own position limit
            new_tokens = min(new_tokens, (self.backend.context_length or 1024) - 2)

        options = GenerateOptions(
            max_new_tokens=new_tokens,
            temperature=self.options.temperature,
            repetition_penalty=self.options.repetition_penalty,
            batch_size=self.options.batch_size,
            seed=0 if self.options.temperature > 0 else None,
            raw=not self.prompter.chat,
        )
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if self.progress:
                self.progress(stage, done, len(prompts))

        if self.progress:
            self.progress(stage, 0, len(prompts))
        results = generate_many(prompts, options=options, backend=self.backend, on_progress=advance)
        out = []
        for r in results:
            self.calls += 1
            self.prompt_tokens += r.prompt_tokens
            self.new_tokens += r.completion_tokens
            if r.completions[0].finish_reason == "length":
                self.warnings.append(
                    f"a {stage} output reached its {new_tokens}-token limit and ends mid-sentence"
                )
            out.append(_tidy(r.text))
        return out

    def pack(self, text: str, budget: int) -> list[str]:
        units = split_sentences(text) or [Span(text, 0, len(text))]
        return [c.text for c in pack(units, self.count, budget)]

    def compress(self, text: str, budget: int) -> str:
        """Extractive pre-compression of text that must fit `budget` tokens."""
        units = candidates(text, clean=False, min_words=1)
        words = max(20, int(budget / 1.6))
        embedder = self.embedder_fn()
        texts = [u.text for u in units]
        vectors = embed_units(texts, embedder)
        while True:
            chosen, _ = extract(
                texts, max_words=words, embedder=embedder, vectors=vectors, position_weight=0.3
            )
            short = " ".join(texts[i] for i in chosen)
            if self.count([short])[0] <= budget:
                return short
            if words <= 20:
                break
            words = int(words * 0.8)
        # Degenerate intermediate text (no sentences, no spaces): keep the longest prefix of the
        # extract that fits, and say so.
        low, high = 0, len(short)
        while low < high:
            mid = (low + high + 1) // 2
            if self.count([short[:mid]])[0] <= budget:
                low = mid
            else:
                high = mid - 1
        self.warnings.append(
            f"intermediate summaries had no sentence structure: {len(short) - low} of "
            f"{len(short)} characters of them were cut to fit the context"
        )
        return short[:low]

    def squeeze(self, joined: str, tokens: int, budget: int, level: int) -> str:
        squeezed = self.compress(joined, budget)
        self.levels.append(
            {
                "level": level,
                "stage": "extractive pre-compression",
                "chunks": 1,
                "tokens": [tokens],
                "to_tokens": self.count([squeezed])[0],
            }
        )
        return squeezed

    def run(self, text: str, max_words: int | None, max_sentences: int | None) -> str:
        final_length = _length_phrase(max_words, max_sentences)
        final_tokens = _new_tokens(max_words, max_sentences)
        budget = self.budget(max(final_tokens, _new_tokens(PART_WORDS[1], None)), final_length)
        total_tokens = self.count([text])[0]
        if total_tokens <= budget:
            self.levels.append(
                {"level": 0, "stage": "single", "chunks": 1, "tokens": [total_tokens]}
            )
            prompt = self.prompter.prompt(text, final_length)
            return self.generate([prompt], final_tokens, "summarizing")[0]

        chunks = self.pack(text, budget)
        sizes = self.count(chunks)
        # partial summaries: together about twice the final length, 40 to 80 words each
        wanted = 2 * (max_words or 25 * (max_sentences or 3)) // len(chunks)
        part_words = max(PART_WORDS[0], min(PART_WORDS[1], wanted))
        part_length = _length_phrase(part_words, None)
        part_tokens = _new_tokens(part_words, None)
        self.levels.append({"level": 0, "stage": "map", "chunks": len(chunks), "tokens": sizes})
        prompts = [self.prompter.prompt(c, part_length) for c in chunks]
        partials = self.generate(prompts, part_tokens, "map: chunks")
        level = 0
        while True:
            joined = "\n\n".join(p for p in partials if p)
            joined_tokens = self.count([joined])[0]
            if joined_tokens <= budget:
                break
            level += 1
            groups = self.pack(joined, budget) if level <= self.options.max_depth else []
            # depth exhausted, or no progress (the partials do not shrink): compress extractively
            if level > self.options.max_depth or len(groups) >= len(partials):
                joined = self.squeeze(joined, joined_tokens, budget, level)
                break
            self.levels.append(
                {
                    "level": level,
                    "stage": "reduce",
                    "chunks": len(groups),
                    "tokens": self.count(groups),
                }
            )
            prompts = [self.prompter.prompt(g, part_length) for g in groups]
            partials = self.generate(prompts, part_tokens, f"reduce level {level}")
        self.levels.append(
            {"level": level + 1, "stage": "final", "chunks": 1, "tokens": [self.count([joined])[0]]}
        )
        prompt = self.prompter.prompt(joined, final_length)
        return self.generate([prompt], final_tokens, "final summary")[0]
