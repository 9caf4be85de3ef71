#!/usr/bin/env bash
# Interleaved A/B benchmark: for each thread count and GGUF file, runs `bench --json` of every minimax
# binary given and, with --llama-bench PATH, llama.cpp's llama-bench on the same file, one after the
# other, and prints one JSON line per run (tool, file, threads, prefill / decode tok/s medians).
#
#   scripts/bench_interleaved.sh [--threads "1 2"] [--reps 3] [--llama-bench PATH] \
#       --bin before=/tmp/mm_before --bin after=build/minimax FILE.gguf...
set -euo pipefail
threads="1 2"; reps=3; llama=""; bins=(); files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --llama-bench) llama="$2"; shift 2 ;;
    --bin) bins+=("$2"); shift 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#bins[@]} -gt 0 ] && [ ${#files[@]} -gt 0 ] || { echo "usage: see the header of $0" >&2; exit 2; }
for t in $threads; do
  for f in "${files[@]}"; do
    for nb in "${bins[@]}"; do
      name="${nb%%=*}"; bin="${nb#*=}"
      j=$("$bin" bench --model "$f" -p 512 -n 128 --threads "$t" --reps "$reps" --json 2>/dev/null | tail -1)
      python3 -c 'import json,sys; r=json.loads(sys.argv[4]); print(json.dumps({"tool":sys.argv[1],"file":sys.argv[2],"threads":int(sys.argv[3]),"pp512":round(r["prefill"]["median"],1),"tg128":round(r["decode"]["median"],1),"pp_cpu":round(r["prefill_cpu_util"],2),"tg_cpu":round(r["decode_cpu_util"],2)}))' "$name" "$(basename "$f")" "$t" "$j"
    done
    if [ -n "$llama" ]; then
      if out=$("$llama" -m "$f" -p 512 -n 128 -r "$reps" -t "$t" -o jsonl 2>/dev/null); then
        python3 -c 'import json,sys,statistics as st
rows=[json.loads(l) for l in sys.argv[4].splitlines() if l.strip()]
pp=[r for r in rows if r["n_prompt"]>0]; tg=[r for r in rows if r["n_gen"]>0]
med=lambda r: round(st.median(r[0]["samples_ts"]),1)
print(json.dumps({"tool":"llama.cpp","file":sys.argv[2],"threads":int(sys.argv[3]),"pp512":med(pp),"tg128":med(tg)}))' llama "$(basename "$f")" "$t" "$out"
      else
        echo "{\"tool\":\"llama.cpp\",\"file\":\"$(basename "$f")\",\"threads\":$t,\"error\":\"failed to load\"}"
      fi
    fi
  done
done
