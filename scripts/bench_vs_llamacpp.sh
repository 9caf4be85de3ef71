#!/usr/bin/env bash
# Prefill / decode speed: minimax.cpp vs llama.cpp's CPU backend on the same GGUF files.
# usage: scripts/bench_vs_llamacpp.sh [--threads 2] [-p 512] [-n 128] [--reps 3] [--no-mmap] MODEL.gguf ...
#
# llama.cpp runs through node-llama-cpp's prebuilt CPU binaries (npm, installed into
# scripts/llamacpp_bench/; nothing is compiled or downloaded at run time). Both engines get the same
# thread count, the same prompt ids (minimax bench's generator), a 512-token prompt in one evaluation
# (prefill) and 128 single-token steps from an empty context (decode), median of --reps. The engines
# run one after the other, never at the same time. One JSON line per model:
#   minimax_{prefill,decode}_tok_s, llama_{prefill,decode}_tok_s (llama.cpp's own perf counters, i.e.
#   time inside llama_decode; the _wall variants add the Node binding's per-call overhead), and the
#   ratios minimax / llama (against the internal, i.e. the faster, llama.cpp numbers).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 p=512 n=128 reps=3 mmap_flag=""
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    -p) p=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --no-mmap) mmap_flag=--no-mmap; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) models+=("$1"); shift ;;
  esac
done
[ ${#models[@]} -gt 0 ] || { echo "usage: $0 [--threads N] [-p P] [-n N] [--reps R] [--no-mmap] MODEL.gguf ..." >&2; exit 1; }
[ -x build/minimax ] || scripts/build.sh
if [ ! -d scripts/llamacpp_bench/node_modules/node-llama-cpp ]; then
  # --ignore-scripts: node-llama-cpp's postinstall would try to fetch / build llama.cpp; the prebuilt
  # binary package (@node-llama-cpp/linux-x64) is all we use.
  # npm ci rejects the lock file over other platforms' optional binaries; install without optional
  # packages, then the one prebuilt binary this machine needs.
  (cd scripts/llamacpp_bench && export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true &&
   npm install --ignore-scripts --omit=optional --silent --no-audit --no-fund >/dev/null &&
   npm install --ignore-scripts --no-save --silent --no-audit --no-fund @node-llama-cpp/linux-x64@3.22.1 >/dev/null)
fi
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true NODE_LLAMA_CPP_GPU=false

for m in "${models[@]}"; do
  vocab=$(build/minimax info --model "$m" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vocab_size"])')
  ours=$(build/minimax bench --model "$m" -p "$p" -n "$n" --threads "$threads" --reps "$reps" $mmap_flag --json)
  theirs=$(node scripts/llamacpp_bench/bench.mjs bench "$m" --threads "$threads" -p "$p" -n "$n" --reps "$reps" \
             --vocab "$vocab" $mmap_flag || true)
  python3 - "$m" "$ours" "$theirs" <<'PY'
import json, os, sys
m, a = sys.argv[1], json.loads(sys.argv[2])
try:
    b = json.loads(sys.argv[3].strip().splitlines()[-1])
except (ValueError, IndexError):
    b = {"load_error": "no output from bench.mjs"}
r = lambda x: None if x is None else round(x, 2)
out = {"model": m, "size_mib": round(os.path.getsize(m) / 2**20, 1), "threads": a["threads"], "p": a["p"], "n": a["n"],
       "minimax_prefill_tok_s": r(a["prefill_tok_s"]), "minimax_decode_tok_s": r(a["decode_tok_s"]),
       "minimax_cpu_util": [r(a.get("prefill_cpu_util")), r(a.get("decode_cpu_util"))]}
if "load_error" in b:
    out["llama_error"] = b["load_error"]
    out["llama_log"] = b.get("llama_log")
else:
    lp, ld = b["prefill_tok_s_internal"], b["decode_tok_s_internal"]
    out.update({"llama_prefill_tok_s": r(lp), "llama_decode_tok_s": r(ld),
                "llama_prefill_tok_s_wall": r(b["prefill_tok_s_wall"]), "llama_decode_tok_s_wall": r(b["decode_tok_s_wall"]),
                "prefill_ratio": r(a["prefill_tok_s"] / lp) if lp else None,
                "decode_ratio": r(a["decode_tok_s"] / ld) if ld else None,
                "llama_cpp_release": b.get("llama_cpp_release")})
print(json.dumps(out))
PY
done
