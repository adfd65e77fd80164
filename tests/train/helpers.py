"""Small training data and a quick tiny-model run, shared by the train/ship/cli tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

QUOTES = [
    ("Oscar Wilde", "Be yourself; everyone else is already taken."),
    ("Frank Zappa", "So many books, so little time."),
    ("Albert Einstein", "Two things are infinite: the universe and human stupidity."),
    ("Marcus Tullius Cicero", "A room without books is like a body without a soul."),
    ("Mae West", "You only live once, but if you do it right, once is enough."),
    ("Mahatma Gandhi", "Be the change that you wish to see in the world."),
    ("Mark Twain", "If you tell the truth, you don't have to remember anything."),
    ("Elbert Hubbard", "A friend is someone who knows all about you and still loves you."),
]


def write_quotes(path: Path, copies: int = 3) -> Path:
    rows = [{"text": text, "author": author, "tags": ["life"]} for author, text in QUOTES] * copies
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# A few steps with a high learning rate: enough for a tiny random model to move its loss.
FAST = {
    "template": "Quote by {author}: {text}",
    "max_steps": 12,
    "lr": 5e-3,
    "batch_size": 4,
    "val_size": 4,
    "num_samples": 2,
    "sample_max_new_tokens": 8,
    "save_steps": 4,
}


def run(data: Path, model: Path, output_dir: Path, **overrides):
    from pretrained.train import FinetuneOptions, finetune

    callbacks = overrides.pop("callbacks", ())
    options = FinetuneOptions.from_kwargs(**{**FAST, "output_dir": str(output_dir), **overrides})
    return finetune(str(data), str(model), options, callbacks=callbacks)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread (and a busy 2-core CI box thrashes with two).
    Import this fixture into a test module (or conftest) to apply it there."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_gpt2_dir):
    """One completed LoRA run on tiny GPT-2, shared by the tests of a module."""
    root = tmp_path_factory.mktemp("finished")
    data = write_quotes(root / "quotes.jsonl")
    result = run(data, tiny_gpt2_dir, root / "runs", name="quotes", max_steps=4)
    assert result.status == "completed"
    return Path(result.run_dir)


# Preference pairs for the tiny models: the chosen completion is the quote, the rejected one
# the same quote trailing off into filler, a pattern a few DPO steps can pick up.
FILLER = (" and so on and so on", " you know, basically, whatever", " etc etc etc")


def write_pairs(path: Path, copies: int = 3) -> Path:
    rows = [
        {
            "prompt": f"Quote by {author}:",
            "chosen": f" {text}",
            "rejected": f" {text}{FILLER[i % len(FILLER)]}",
        }
        for i, (author, text) in enumerate(QUOTES * copies)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


PAIRS_FAST = {
    "max_steps": 8,
    "lr": 5e-3,
    "batch_size": 4,
    "val_size": 6,
    "num_samples": 2,
    "sample_max_new_tokens": 8,
    "save_steps": 4,
}
