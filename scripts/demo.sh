#!/usr/bin/env bash
# `make demo`: the main job on the embedded models, offline.
set -euo pipefail
PT=${PT:-.venv/bin/pretrained}  # PT="python -m pretrained" runs it from another environment
export HF_HUB_OFFLINE=1
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step pretrained models list
$PT models list

step pretrained generate "The future of AI is" --temperature 0 --max-new-tokens 40
$PT generate "The future of AI is" --temperature 0 --max-new-tokens 40

step pretrained generate "Write a haiku about the sea." --temperature 0.8 --seed 7 --max-new-tokens 40
$PT generate "Write a haiku about the sea." --temperature 0.8 --seed 7 --max-new-tokens 40

step pretrained tokenize coconut --model smollm2-135m-instruct
$PT tokenize coconut --model smollm2-135m-instruct

ALMANAC=src/pretrained/data/almanac.md
step pretrained summarize $ALMANAC --words 120 --verbose
$PT summarize $ALMANAC --words 120 --verbose

step pretrained summarize $ALMANAC --mode abstractive --words 80 --verbose
$PT summarize $ALMANAC --mode abstractive --words 80 --verbose

step pretrained classify "I love it"
$PT classify "I love it"

step pretrained classify "The match went to extra time" --labels sports,politics,technology
$PT classify "The match went to extra time" --labels sports,politics,technology

step pretrained ask "Which country grows most of the world's saffron?" --context $ALMANAC
$PT ask "Which country grows most of the world's saffron?" --context $ALMANAC

if command -v espeak-ng >/dev/null; then
  OUT=$(mktemp -d)
  SPEECH="The quarterly review starts at noon. Revenue grew by twelve percent."
  step pretrained speak "$SPEECH" -o $OUT/review.wav
  $PT speak "$SPEECH" -o $OUT/review.wav
  step pretrained transcribe $OUT/review.wav -o $OUT --format txt,srt
  $PT transcribe $OUT/review.wav -o $OUT --format txt,srt
  rm -rf "$OUT"
fi

step pretrained logs --limit 5
$PT logs --limit 5
