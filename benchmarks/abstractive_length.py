"""Abstractive `--words N` on the embedded model: words out and whether each summary ends on a
sentence boundary, for each document and length (issue 13). Heavy: run under the heavy lock.

    python benchmarks/abstractive_length.py benchmarks/data/abstractive_docs.jsonl --words 40 60 100
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--words", type=int, nargs="+", default=[40, 60, 100])
    args = parser.parse_args(argv)
    from pretrained.tasks.summarize import SummarizeOptions, summarize

    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line]
    within = total = 0
    for row in rows:
        for words in args.words:
            result = summarize(row["text"], SummarizeOptions(mode="abstractive", words=words))
            ends = bool(re.search(r"[.!?…][\"'”’)]*$", result.summary.strip()))
            ok = ends and abs(result.output_words - words) <= 0.1 * words
            within += ok
            total += 1
            print(
                f"{row['id']:8s} --words {words:3d}: {result.output_words:3d} words, "
                f"{'ends on a sentence' if ends else 'ends MID-SENTENCE'}, "
                f"{'within' if ok else 'OUTSIDE'} ±10 % · {len(result.unsupported)} dropped · "
                f"{'; '.join(result.warnings)}"
            )
    print(f"{within} of {total} summaries end on a sentence within ±10 % of --words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
