"""Matplotlib figures of a :class:`~maiasim.Result`. Each returns the Figure; nothing is shown,
so the same calls serve notebooks, scripts and ``maiasim run -o``. Axis labels and units come
from the column registry (:mod:`maiasim.results.columns`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .results.columns import axis_label, column


def _plt():
    """pyplot, on the non-interactive Agg backend unless a notebook backend is active."""
    import matplotlib

    interactive = ("module://matplotlib_inline.backend_inline", "nbagg", "widget")
    if matplotlib.get_backend().lower() not in interactive:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def latency_cdf(res, ax=None):
    """Empirical CDFs of TTFT, TPOT and end-to-end latency per workload, with SLO targets marked."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6)) if ax is None else (ax[0].figure, ax)
    req = res.requests[res.requests.status == "completed"]
    cols = ("ttft_s", "tpot_s", "e2e_s")
    for w in res.scenario.workload:
        df = req[req.workload == w.name]
        for a, col in zip(axes, cols, strict=True):
            v = np.sort(df[col].dropna().to_numpy())
            if len(v):
                a.plot(v, np.arange(1, len(v) + 1) / len(v), label=w.name)
        targets = (w.slo.ttft_p99_s, w.slo.tpot_p99_s, w.slo.e2e_p99_s)
        for a, target in zip(axes, targets, strict=True):
            if target:
                a.axvline(target, ls="--", lw=0.8, color="grey")
    for a, col in zip(axes, cols, strict=True):
        a.set_xlabel(axis_label("requests", col))
        a.set_xscale("log")
        a.set_ylabel("fraction of requests")
        a.axhline(0.99, lw=0.5, color="lightgrey")
        a.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(res.scenario.name)
    fig.tight_layout()
    return fig


def timeline(res):
    """Throughput, queue depth, KV-cache use and busy fraction over simulated time."""
    plt = _plt()
    tl = res.timeline
    fig, axes = plt.subplots(4, 1, figsize=(10, 8), sharex=True)
    axes[0].plot(tl.time_s, tl.throughput_tok_s, label="output")
    axes[0].plot(tl.time_s, tl.prefill_tok_s, label="prefill", alpha=0.7)
    axes[0].set_ylabel(column("timeline", "throughput_tok_s").unit)
    axes[0].legend(fontsize=8)
    axes[1].plot(tl.time_s, tl.queue_depth)
    axes[1].set_ylabel(axis_label("timeline", "queue_depth", unit=False))
    axes[2].plot(tl.time_s, tl.kv_used_frac)
    axes[2].set_ylabel(axis_label("timeline", "kv_used_frac", unit=False))
    axes[2].set_ylim(0, 1.05)
    axes[3].plot(tl.time_s, tl.busy_frac)
    axes[3].set_ylabel(axis_label("timeline", "busy_frac", unit=False))
    axes[3].set_ylim(0, 1.05)
    axes[3].set_xlabel("simulated time (s)")
    for a in axes:
        a.grid(alpha=0.3)
    fig.suptitle(res.scenario.name)
    fig.tight_layout()
    return fig


def utilization(res):
    """Per-replica busy fraction, MFU, memory-bandwidth utilisation and peak KV use."""
    plt = _plt()
    rp = res.replicas
    fig, ax = plt.subplots(figsize=(10, 3.6))
    cols = ["busy_frac", "mfu", "mbu", "kv_peak_frac"]
    data = [rp[c].to_numpy() for c in cols]
    ax.boxplot(data)
    ax.set_xticks(range(1, len(cols) + 1), cols)
    ax.set_ylabel("fraction")
    ax.set_title(f"{res.scenario.name}: {len(rp)} replicas")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def breakdown(res):
    """Where a representative decode step's time goes, operator by operator."""
    plt = _plt()
    b = res.breakdown()
    b = b[b.time_s > 0]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.barh(b.op, b.time_s * 1e3)
    ax.set_xlabel("milliseconds per step")
    ax.set_title("decode step breakdown")
    fig.tight_layout()
    return fig


def save_all(res, directory) -> list[Path]:
    """Write every figure as PNG into ``directory``; returns the paths."""
    plt = _plt()
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    figures = (("latency_cdf", latency_cdf), ("timeline", timeline),
               ("utilization", utilization), ("breakdown", breakdown))
    for name, fn in figures:
        fig = fn(res)
        p = d / f"{name}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        out.append(p)
    return out
