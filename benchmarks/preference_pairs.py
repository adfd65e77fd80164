"""A realistic small preference file from ../shared/data/english_quotes.jsonl, for the DPO
measurement in docs/finetune.md: the prompt asks for a quote by an author; the chosen reply is
the quote itself, the rejected one the same quote followed by the kind of chatty commentary a
small instruct model adds ("This quote reminds us that …"), one of several, seeded. A DPO run
should learn to prefer the bare quote on held-out pairs (authors and quotes it never saw).

    python benchmarks/preference_pairs.py QUOTES.jsonl OUT.jsonl [N]
"""

from __future__ import annotations

import json
import random
import sys

COMMENTARY = (
    " This quote reminds us that life is full of lessons, and we should always keep learning.",
    " In this context, the speaker suggests that we should reflect on our choices every day.",
    " This powerful statement has inspired many people around the world for generations.",
    " Overall, the message is clear: we must embrace who we are and never give up.",
    " Here, the author highlights the importance of perspective in everyday life.",
)


def pairs(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    short = [r for r in rows if 20 <= len(r.get("text", "")) <= 160 and r.get("author")]
    out = []
    for r in rng.sample(short, min(n, len(short))):
        quote = r["text"].strip()
        out.append(
            {
                "prompt": f"Quote by {r['author'].strip().rstrip(',')}:",
                "chosen": f" {quote}",
                "rejected": f" {quote}{rng.choice(COMMENTARY)}",
            }
        )
    return out


def main() -> None:
    source, target = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 120
    with open(source, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    with open(target, "w", encoding="utf-8") as fh:
        for row in pairs(rows, n):
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
