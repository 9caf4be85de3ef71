#!/usr/bin/env bash
# The main job on a fresh machine: build, make a small random-weight MiniMax-Text-01 model, describe it
# and generate from it. (Random weights: the ids are meaningless until a trained demo model exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
model=models/demo-text01
if [ ! -f "$model/config.json" ]; then
  build/minimax init --like text-01 --out "$model" --hidden 256 --layers 8 --heads 4 --head-dim 64 \
    --experts 8 --top-k 2 --inter 256 --vocab 512 --seed 1
fi
build/minimax info --model "$model"
echo "generate from ids:"
build/minimax generate --model "$model" --ids 1,2,3,4 -n 16 --temp 0 --json
if [ -f "$model/tokenizer.json" ]; then
  echo "chat (random weights: gibberish by design):"
  build/minimax chat --model "$model" --prompt "Hello!" -n 24
fi
