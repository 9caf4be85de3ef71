#!/usr/bin/env bash
# Runs every libFuzzer target of an MM_FUZZ build (fuzz/, docs/fuzzing.md) for SECONDS each, on a copy
# of its seed corpus in a temporary folder, and fails on any crash, leak, timeout, out-of-memory or
# sanitizer report (the input that caused it is kept in BUILD_DIR/fuzz-artifacts/).
#   scripts/fuzz.sh [SECONDS] [BUILD_DIR]        defaults: 30, build-asan (the .ci/run build)
# Seeds are made here, nothing is downloaded: small models from the build's own `minimax init` /
# `quantize`, config.json and tokenizer.json files of tests/data and ../shared/testdata (the large real
# tokenizers cut down to their first ids, when python3 is there), and fuzz/corpus/ (request bodies).
# FUZZ_TARGETS="gguf config" limits the run to some targets; FUZZ_CORPUS_OUT=DIR keeps the grown corpora.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
build=${2:-build-asan}
shared=../shared/testdata
targets=${FUZZ_TARGETS:-gguf safetensors config tokenizer server_requests}
for t in $targets; do
  [ -x "$build/fuzz/fuzz_$t" ] || { echo "fuzz.sh: $build/fuzz/fuzz_$t is missing (configure with -DMM_FUZZ=ON)" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}

# ---- seeds
seeds=$work/seeds
mkdir -p "$seeds"/{gguf,safetensors,config,tokenizer,server_requests}
small=(--hidden 32 --layers 2 --heads 2 --head-dim 16 --kv-heads 1 --experts 2 --top-k 1 --inter 32 --vocab 300)
"$build/minimax" init --like text-01 --out "$work/t01" --dtype bf16 "${small[@]}" >/dev/null 2>&1
"$build/minimax" init --like m2 --out "$work/m2" --dtype fp8 "${small[@]}" >/dev/null 2>&1
for m in t01 m2; do
  "$build/minimax" quantize --model "$work/$m" --type q8_0 --out "$seeds/gguf/$m-q8_0.gguf" >/dev/null 2>&1
  cp "$work/$m/model.safetensors" "$seeds/safetensors/$m.safetensors"
  cp "$work/$m/config.json" "$seeds/config/$m-config.json"
  cp "$work/$m/tokenizer.json" "$seeds/tokenizer/$m-tokenizer.json"
done
n=0
for f in tests/data/*/config.json "$shared"/minimax_*/config*.json "$shared"/minimax_*/model_*/config.json; do
  [ -f "$f" ] && cp "$f" "$seeds/config/$((n++))-$(basename "$f")"
done
[ -f "$shared/minimax_m3_tiny/model_mxfp8/model-00001-of-00002.safetensors" ] &&
  cp "$shared/minimax_m3_tiny/model_mxfp8/model-00001-of-00002.safetensors" "$seeds/safetensors/m3_mxfp8.safetensors"
[ -f "$shared/minimax_text01_tiny/model_f32/tokenizer.json" ] &&
  cp "$shared/minimax_text01_tiny/model_f32/tokenizer.json" "$seeds/tokenizer/tiny-tokenizer.json"
if command -v python3 >/dev/null 2>&1; then
  for f in "$shared"/tokenizers/*/tokenizer.json; do
    [ -f "$f" ] || continue
    python3 scripts/fuzz_cut_tokenizer.py "$f" 400 > "$seeds/tokenizer/$(basename "$(dirname "$f")").json"
  done
fi
cp fuzz/corpus/server_requests/*.json "$seeds/server_requests/"

# ---- runs
status=0
summary=""
for t in $targets; do
  corpus=$work/corpus_$t
  cp -r "$seeds/$t" "$corpus"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  log=$work/$t.log
  echo "=== fuzz_$t: ${secs} s on $(ls "$corpus" | wc -l) seeds"
  rc=0
  "$build/fuzz/fuzz_$t" "$corpus" "${dict[@]}" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  size=$(ls "$corpus" | wc -l)
  if [ "$rc" -ne 0 ]; then
    status=1
    tail -n 60 "$log"
    echo "fuzz_$t FAILED (exit $rc); the input is in $artifacts/"
  fi
  summary+=$(printf '%-24s %12s runs  %6s edges  %6s corpus  %s' "fuzz_$t" "${runs:-?}" "${cov:-?}" "$size" \
    "$([ "$rc" -eq 0 ] && echo ok || echo FAILED)")$'\n'
  if [ -n "${FUZZ_CORPUS_OUT:-}" ]; then
    mkdir -p "$FUZZ_CORPUS_OUT/$t"
    cp "$corpus"/* "$FUZZ_CORPUS_OUT/$t/"
  fi
done
echo "=== fuzz summary (${secs} s per target)"
printf '%s' "$summary"
exit $status
