#!/usr/bin/env bash
# Tokenizer speed: minimax.cpp vs Hugging Face `tokenizers` on the same tokenizer.json and corpus.
# usage: scripts/bench_tokenizer_vs_hf.sh [TOKENIZER_JSON ...]   (default: the four test tokenizers)
# Corpus: ~4 MB of real English text from /usr/share/doc (license and copyright files), not repeated.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/minimax ] || scripts/build.sh
corpus=$(mktemp /tmp/mm_tok_corpus.XXXXXX)
trap 'rm -f "$corpus"' EXIT
find /usr/share/common-licenses /usr/share/doc -type f \( -name copyright -o -path '*common-licenses*' \) \
  -size -200k 2>/dev/null | sort | xargs cat 2>/dev/null | head -c 4000000 > "$corpus" || true
(cd scripts/hf_tokenizers && [ -d node_modules ] || npm install --silent --no-audit --no-fund >/dev/null)
toks=("$@")
[ ${#toks[@]} -gt 0 ] || toks=(../shared/testdata/tokenizers/{qwen3,llama3,deepseek_v3,gpt4o}/tokenizer.json)
for t in "${toks[@]}"; do
  ours=$(build/minimax bench-tokenizer --tokenizer "$t" --text-file "$corpus" --json)
  hf=$(node scripts/hf_tokenizers/bench_hf.mjs "$t" "$corpus")
  python3 - "$t" "$ours" "$hf" <<'PY'
import json, sys
t, a, b = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(json.dumps({"tokenizer": t, "corpus_bytes": a["corpus_bytes"],
  "minimax_single_mb_s": round(a["single_thread_mb_s"], 2), "hf_single_mb_s": round(b["single_thread_mb_s"], 2),
  "single_speedup": round(a["single_thread_mb_s"] / b["single_thread_mb_s"], 2),
  "minimax_batch_mb_s": round(a["batch_mb_s"], 2), "hf_batch_mb_s": round(b["batch_mb_s"], 2),
  "batch_speedup": round(a["batch_mb_s"] / b["batch_mb_s"], 2),
  "same_token_count": a["n_tokens"] == b["n_tokens"]}))
PY
done
