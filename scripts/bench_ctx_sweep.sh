#!/usr/bin/env bash
# Context scaling (issue #11): prefill time, decode speed and memory against the context length, for a
# Text-01-shaped hybrid (lightning attention + one softmax layer in every --softmax-every) and an
# M2-shaped full-attention model of similar active size, plus llama.cpp on the M2-shaped one.
#
# usage: scripts/bench_ctx_sweep.sh [--threads "1 2"] [--sweep 1024,4096,...] [--m2-sweep L,...]
#                                   [--llama-depths D,...] [-n 32] [--chunk 512] [--out bench-out/ctx_sweep]
#                                   [--llama-bench PATH | --no-llama] [--no-minimax] [--no-plot]
#
# Writes under --out (default bench-out/ctx_sweep, git-ignored): models/ (the two random models, as
# f16 GGUF files made by `minimax init` + `minimax quantize`), minimax_{t01,m2}_t{T}.json (one
# `minimax bench --ctx-sweep` run each), llama_m2_t{T}.json (llama-bench -o json), ctx_sweep.json (all of
# it in one object) and ctx_sweep.png (scripts/plot_ctx_sweep.py; needs python3-matplotlib, installed
# with apt-get when missing). llama.cpp has no minimax-01 (Text-01 / M1) architecture in the snapshot
# used here, so only the M2-shaped model (llama.cpp arch minimax-m2) is compared with it.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="1 2" sweep=1024,4096,16384,65536,131072 m2_sweep=1024,4096,16384,32768 llama_depths="" n=32 chunk=512
out=bench-out/ctx_sweep llama_bench=/work/llamacpp/build/bin/llama-bench plot=1 run_minimax=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    --m2-sweep) m2_sweep=$2; shift 2 ;;
    --llama-depths) llama_depths=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    --chunk) chunk=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --llama-bench) llama_bench=$2; shift 2 ;;
    --no-llama) llama_bench=""; shift ;;
    --no-plot) plot=0; shift ;;
    --no-minimax) run_minimax=0; shift ;;  # keep the minimax_*.json of an earlier run, (re)run llama.cpp only
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 1 ;;
  esac
done
m2_sweep=${m2_sweep:-$sweep}
llama_depths=${llama_depths:-$m2_sweep}
[ -x build/minimax ] || scripts/build.sh
mm=build/minimax
mkdir -p "$out/models"

# Two models of similar active size (the same hidden size, experts, heads and layer count): the hybrid's
# layers are lightning except every 8th (1 softmax layer of 8, as in Text-01 / M1), the M2-shaped one is
# softmax throughout. Heads are few and small (2 x 32, one KV head) because the softmax layers' prefill
# is O(L^2): on 2 shared AVX2 cores one such layer costs ~2 minutes at 128K tokens, so the full-attention
# model's sweep stops at 32K by default (--m2-sweep) and the hybrid's goes to 128K.
shape="--hidden 128 --layers 8 --heads 2 --kv-heads 1 --head-dim 32 --experts 8 --top-k 2 --inter 128 --vocab 4096"
if [ ! -f "$out/models/t01_f16.gguf" ]; then
  $mm init --like text-01 --out "$out/models/t01" $shape --softmax-every 8 --seed 1 2>/dev/null
  $mm quantize --model "$out/models/t01" --type f16 --out "$out/models/t01_f16.gguf" >/dev/null
fi
if [ ! -f "$out/models/m2_f16.gguf" ]; then
  $mm init --like m2 --out "$out/models/m2" $shape --seed 1 2>/dev/null
  $mm quantize --model "$out/models/m2" --type f16 --out "$out/models/m2_f16.gguf" >/dev/null
fi

for t in $threads; do
  if [ "$run_minimax" = 1 ]; then
    echo "== minimax, $t thread(s): Text-01-shaped hybrid, contexts $sweep" >&2
    $mm bench --model "$out/models/t01_f16.gguf" --ctx-sweep "$sweep" -n "$n" --chunk "$chunk" --threads "$t" --json \
      > "$out/minimax_t01_t$t.json"
    echo "== minimax, $t thread(s): M2-shaped full attention, contexts $m2_sweep" >&2
    $mm bench --model "$out/models/m2_f16.gguf" --ctx-sweep "$m2_sweep" -n "$n" --chunk "$chunk" --threads "$t" --json \
      > "$out/minimax_m2_t$t.json"
  fi
  if [ -n "$llama_bench" ]; then
    if [ -x "$llama_bench" ]; then
      echo "== llama.cpp ($llama_bench), $t thread(s): M2-shaped, pp512 / tg$n at depths $llama_depths" >&2
      "$llama_bench" -m "$out/models/m2_f16.gguf" -p 512 -n "$n" -d "$llama_depths" -t "$t" -r 1 -o json \
        > "$out/llama_m2_t$t.json" 2> "$out/llama_m2_t$t.log" || echo "llama-bench failed: see $out/llama_m2_t$t.log" >&2
    else
      echo "no llama-bench at $llama_bench (build it: see BENCHMARKS.md 'Context scaling'); skipping llama.cpp" >&2
    fi
  fi
done

python3 - "$out" <<'PY'
import glob, json, os, re, sys
out = sys.argv[1]
# Every thread count run into this folder so far (a --no-minimax or --threads rerun keeps the others).
threads = sorted({re.search(r"_t(\d+)\.json$", p).group(1) for p in
                  glob.glob(os.path.join(out, "minimax_*_t*.json")) + glob.glob(os.path.join(out, "llama_m2_t*.json"))},
                 key=int)
def load(p):
    try:
        with open(p) as f: return json.load(f)
    except (OSError, ValueError): return None
res = {"models": {"t01": os.path.join(out, "models/t01_f16.gguf"), "m2": os.path.join(out, "models/m2_f16.gguf")},
       "minimax": [], "llama_cpp": []}
for t in threads:
    for m in ("t01", "m2"):
        j = load(os.path.join(out, f"minimax_{m}_t{t}.json"))
        if j: res["minimax"].append(dict(j, shape=m))
    j = load(os.path.join(out, f"llama_m2_t{t}.json"))
    if j: res["llama_cpp"].extend(dict(e, shape="m2") for e in j)
with open(os.path.join(out, "ctx_sweep.json"), "w") as f: json.dump(res, f, indent=1)
for r in res["minimax"]:
    print(f"minimax {r['shape']:3s} t{r['threads']}: " + "  ".join(
        f"{p['ctx']}: pp {p['prefill_s_per_token']*1e3:.3f} ms/tok, tg {p['decode_ms_per_token']:.2f} ms/tok, "
        f"RSS {p['peak_rss_bytes']/2**20:.0f} MiB, KV {p['kv_bytes']/2**20:.1f} MiB" for p in r["sweep"]))
for e in res["llama_cpp"]:
    kind = "pp" if e.get("n_prompt") else "tg"
    print(f"llama.cpp m2 t{e['n_threads']}: {kind}{e.get('n_prompt') or e.get('n_gen')} @ depth {e.get('n_depth')}: "
          f"{e['avg_ts']:.1f} tok/s")
PY

if [ "$plot" = 1 ]; then
  # Debian's python3-matplotlib belongs to /usr/bin/python3 (a pyenv python3 earlier on PATH lacks it).
  py=python3
  if ! $py -c 'import matplotlib' 2>/dev/null; then
    py=/usr/bin/python3
    if ! $py -c 'import matplotlib' 2>/dev/null; then
      SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
      $SUDO apt-get install -y -qq --no-install-recommends python3-matplotlib >/dev/null ||
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends python3-matplotlib >/dev/null; }
    fi
  fi
  $py scripts/plot_ctx_sweep.py "$out/ctx_sweep.json" "$out/ctx_sweep.png"
  echo "plot: $out/ctx_sweep.png" >&2
fi
