#!/usr/bin/env python3
"""Accuracy of each --kv-type against f32 KV on the golden prompts (README "KV cache types").

For each model and KV type: the max |logit difference| over all positions of the golden prompt, the
share of positions whose greedy (argmax) token agrees with f32, and the perplexity of the prompt's
own next tokens, against f32's. Usage: scripts/kv_accuracy.py [build/minimax]
"""
import json, math, subprocess, sys

cli = sys.argv[1] if len(sys.argv) > 1 else "build/minimax"
shared = "../shared/testdata"
models = [("Text-01 tiny (f32 weights)", f"{shared}/minimax_text01_tiny/model_f32", f"{shared}/minimax_text01_tiny/golden.json"),
          ("M2 tiny (f32 GGUF)", f"{shared}/gguf/minimax_m2/f32/model.gguf", f"{shared}/gguf/minimax_m2/f32/golden.json")]

def logits(model, ids, kv):
    out = subprocess.run([cli, "logits", "--model", model, "--ids", ",".join(map(str, ids)), "--kv-type", kv],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["logits"]

def ppl(rows, ids):
    nll = 0.0
    for t in range(len(ids) - 1):
        r = rows[t]
        m = max(r)
        lse = m + math.log(sum(math.exp(x - m) for x in r))
        nll += lse - r[ids[t + 1]]
    return math.exp(nll / (len(ids) - 1))

print("| model | KV type | max abs dlogit | greedy agreement | perplexity (f32 -> type) |")
print("|---|---|---|---|---|")
for name, model, golden in models:
    ids = json.load(open(golden))["prompt_ids"]
    ref = logits(model, ids, "f32")
    p0 = ppl(ref, ids)
    for kv in ["f16", "bf16", "q8_0"]:
        try:
            got = logits(model, ids, kv)
        except subprocess.CalledProcessError as e:
            print(f"| {name} | {kv} | n/a: {e.stderr.strip().splitlines()[-1]} | | |")
            continue
        d = max(abs(a - b) for ra, rb in zip(ref, got) for a, b in zip(ra, rb))
        agree = sum(ra.index(max(ra)) == rb.index(max(rb)) for ra, rb in zip(ref, got)) / len(ref)
        print(f"| {name} ({len(ids)} tokens) | {kv} | {d:.2e} | {100 * agree:.1f}% | {p0:.4f} -> {ppl(got, ids):.4f} |")
