"""`eval ask` over several question sets at once, with the model's answers memoized (issue 13).

    python benchmarks/ask_sets.py [SET ...] [--cache FILE] [--out DIR]

SET is a name below (default: all of them) or `QUESTIONS.jsonl=CONTEXT.txt`. The model loads
once. Each generated answer is stored in the cache under its whole prompt, the model, its
engine and the generation options, so a change to the grounding or the quote rules re-runs in
minutes: only prompts that the change alters are generated again, and the same prompt always
gets the same (greedy) answer. Prints correct / refused per set and the totals; `--out` keeps
each set's `eval ask --json` rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
SETS = {
    "talk2": ("talk_heldout2_ask.jsonl", "talk_heldout2.txt"),
    "talk3": ("talk_heldout3_ask.jsonl", "talk_heldout3.txt"),
    "dev2": ("talk_dev2_ask.jsonl", "talk_dev2.txt"),
    "news": ("ask_heldout.jsonl", "ask_heldout.md"),
    **{f"talk{n}": (f"talk_heldout{n}_ask.jsonl", f"talk_heldout{n}.txt") for n in range(4, 10)},
}


class _Reply:
    def __init__(self, text: str) -> None:
        self.text, self.timings = text, {}


def memoize(cache_path: Path) -> None:
    """Route `tasks.chat.chat` through a disk cache keyed on the messages, the model, its
    engine and the generation options."""
    import pretrained.tasks.chat as chat_module

    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    real = chat_module.chat

    def chat(messages, options=None, backend=None, **kwargs):
        engine = [getattr(backend, "model_id", ""), getattr(backend, "engine", "")]
        keyed = json.dumps([messages, engine, repr(options)], sort_keys=True)
        key = hashlib.sha1(keyed.encode()).hexdigest()
        if key not in cache:
            cache[key] = real(messages, options=options, backend=backend, **kwargs).text
            cache_path.write_text(json.dumps(cache))
        return _Reply(cache[key])

    chat_module.chat = chat


def resolve(name: str) -> tuple[str, Path, Path]:
    if "=" in name:
        questions, context = name.split("=", 1)
        return Path(questions).stem, Path(questions), Path(context)
    if name not in SETS:
        sys.exit(f"error: unknown set {name!r}; one of {', '.join(SETS)} or QUESTIONS=CONTEXT")
    questions, context = SETS[name]
    return name, DATA / questions, DATA / context


def check(name: str) -> tuple[str, Path, Path]:
    label, questions, context = resolve(name)
    for path in (questions, context):
        if not path.is_file():
            sys.exit(f"error: no such file: {path}; hint: QUESTIONS.jsonl=CONTEXT.txt, both files")
    return label, questions, context


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=list(SETS))
    parser.add_argument("--cache", type=Path, default=Path(".cache/ask_sets_answers.json"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    chosen = [check(s) for s in args.sets]  # a bad name fails before any model loads
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    memoize(args.cache)
    from pretrained.tasks.ask import Asker
    from pretrained.tasks.ask_eval import evaluate_ask

    backend = None
    totals = [0, 0, 0, 0]
    for name, questions, context in chosen:
        asker = Asker([str(context)], backend=backend)
        backend = asker.backend
        result = evaluate_ask(questions, asker).to_dict()
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))
        row = [result[k] for k in ("correct", "refused_unanswerable", "refused_answerable")]
        totals = [a + b for a, b in zip(totals, [*row, result["answerable"]], strict=True)]
        print(
            f"{name}: correct {row[0]}/{result['answerable']}, unanswerable refused "
            f"{row[1]}/{result['unanswerable']}, answerable refused {row[2]}, "
            f"quoted {result['quoted']}",
            flush=True,
        )
    print(f"total: correct {totals[0]}/{totals[3]}, unanswerable refused {totals[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
