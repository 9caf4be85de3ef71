#!/usr/bin/env python3
"""A tokenizer.json cut down to its first N ids, as a fuzz seed (scripts/fuzz.sh): the same normalizer,
pre-tokenizer, decoder and added tokens, the vocabulary entries below N and the merges among them.
Usage: fuzz_cut_tokenizer.py TOKENIZER_JSON N > OUT"""
import json
import sys

tok = json.load(open(sys.argv[1], encoding="utf-8"))
n = int(sys.argv[2])
model = tok.get("model") or {}
vocab = {t: i for t, i in (model.get("vocab") or {}).items() if i < n}
merges = []
for m in model.get("merges") or []:
    a, b = m.split(" ", 1) if isinstance(m, str) else m
    if a in vocab and b in vocab and a + b in vocab:
        merges.append(m)
model["vocab"] = vocab
model["merges"] = merges
tok["model"] = model
tok["added_tokens"] = (tok.get("added_tokens") or [])[:16]
json.dump(tok, sys.stdout, ensure_ascii=False)
