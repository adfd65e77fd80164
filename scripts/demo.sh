#!/usr/bin/env bash
# `make demo`: the main job on the embedded models, offline.
set -euo pipefail
PT=.venv/bin/pretrained
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

step pretrained logs --limit 5
$PT logs --limit 5
