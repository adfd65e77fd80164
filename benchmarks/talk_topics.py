"""Topic coverage of an extractive summary of a long talk (issue 13, part 3).

    python benchmarks/talk_topics.py benchmarks/data/talk_heldout.topics.json [--words N]
        [--unpunctuated] [--show]

The topics file names the transcript, the summary length and, per topic, keywords: a topic is
covered when any of its keywords (lower-case substrings) is in the summary's sentences (chapter
headlines are not counted). `--unpunctuated` strips the transcript's punctuation and case first,
as a speech recognizer without punctuation would give it. Also prints the share of picked
sentences that are fillers (no word the rest of the talk lacks: see `filler_share`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def unpunctuate(text: str) -> str:
    return re.sub(r"[^\w\s'-]", " ", text).lower()


def covered(summary: str, topics: list[dict]) -> list[str]:
    low = summary.lower()
    return [t["topic"] for t in topics if any(k.lower() in low for k in t["any"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topics")
    parser.add_argument("--words", type=int)
    parser.add_argument("--unpunctuated", action="store_true")
    parser.add_argument("--show", action="store_true")
    parser.add_argument("--paragraphs", action="store_true", help="keep the blank lines")
    args = parser.parse_args(argv)
    from pretrained.tasks.summarize import SummarizeOptions, summarize

    spec = json.loads(Path(args.topics).read_text())
    text = (Path(args.topics).parent / spec["source"]).read_text()
    if not args.paragraphs:  # a transcript is one block of text
        text = " ".join(text.split())
    if args.unpunctuated:
        text = unpunctuate(text)
    words = args.words or spec["words"]
    result = summarize(text, SummarizeOptions(mode="extractive", words=words))
    body = " ".join(s["text"] for s in result.sentences)
    hits = covered(body, spec["topics"])
    if args.show:
        if result.chapters:
            for chapter in result.chapters:
                print(f"## {chapter['headline']}")
                print(" ".join(s["text"] for s in chapter["sentences"]), "\n")
        else:
            for s in result.sentences:
                print("-", s["text"])
        print("missed:", [t["topic"] for t in spec["topics"] if t["topic"] not in hits])
    print(
        f"{spec['source']}{' (unpunctuated)' if args.unpunctuated else ''}: "
        f"{len(hits)} of {len(spec['topics'])} topics in {result.output_words} words "
        f"({len(text.encode()) // 1024} KB, {len(text.split())} words in)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
