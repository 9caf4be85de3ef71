#!/usr/bin/env python3
"""Plots scripts/bench_ctx_sweep.sh's ctx_sweep.json: time per token and memory against context length.

usage: scripts/plot_ctx_sweep.py bench-out/ctx_sweep/ctx_sweep.json bench-out/ctx_sweep/ctx_sweep.png

Four panels, log-scale context length on x: prefill seconds per token (the whole prompt of L tokens
divided by L), decode milliseconds per token at depth L, peak resident memory during each L, and the
KV bytes the sequence holds. llama.cpp (M2-shaped model only) appears on the two time panels: its
pp512 / tgN at depth D measure 512 (N) tokens after a context of D, so its prefill point is the
marginal cost at that depth, not the average over the whole prompt that ours is.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

LABEL = {"t01": "Text-01-shaped hybrid", "m2": "M2-shaped full attention"}
COLOR = {"t01": "tab:blue", "m2": "tab:red"}


def main(src, dst):
    with open(src) as f:
        res = json.load(f)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (ax_pp, ax_tg), (ax_rss, ax_kv) = axes
    for run in res["minimax"]:
        pts = run["sweep"]
        x = [p["ctx"] for p in pts]
        style = "-" if run["threads"] == 1 else "--"
        kw = dict(color=COLOR.get(run["shape"], "k"), linestyle=style, marker="o", markersize=4,
                  label=f"minimax {LABEL.get(run['shape'], run['shape'])}, {run['threads']} thr")
        ax_pp.plot(x, [p["prefill_s_per_token"] for p in pts], **kw)
        ax_tg.plot(x, [p["decode_ms_per_token"] for p in pts], **kw)
        ax_rss.plot(x, [p["peak_rss_bytes"] / 2**20 for p in pts], **kw)
        ax_kv.plot(x, [max(p["kv_bytes"], 1) / 2**20 for p in pts], **kw)
    by_threads = {}
    for e in res.get("llama_cpp", []):
        by_threads.setdefault(e["n_threads"], []).append(e)
    for t, es in sorted(by_threads.items()):
        style = "-" if t == 1 else "--"
        kw = dict(color="tab:green", linestyle=style, marker="s", markersize=4,
                  label=f"llama.cpp M2-shaped, {t} thr")
        pp = sorted((e["n_depth"], 1.0 / e["avg_ts"]) for e in es if e.get("n_prompt"))
        tg = sorted((e["n_depth"], 1e3 / e["avg_ts"]) for e in es if e.get("n_gen"))
        if pp:
            ax_pp.plot([d for d, _ in pp], [v for _, v in pp], **dict(kw, label=kw["label"] + " (pp512 @ depth)"))
        if tg:
            ax_tg.plot([d for d, _ in tg], [v for _, v in tg], **kw)
    titles = [(ax_pp, "prefill: seconds per token (prompt of L tokens / L)", "s / token"),
              (ax_tg, "decode: ms per token at depth L", "ms / token"),
              (ax_rss, "peak RSS during the length (weights included)", "MiB"),
              (ax_kv, "KV cache bytes of the sequence", "MiB")]
    for ax, title, ylabel in titles:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length L (tokens)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax_pp.legend(fontsize=7)
    fig.suptitle("minimax.cpp context scaling (issue #11): hybrid lightning vs full attention", fontsize=12)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
