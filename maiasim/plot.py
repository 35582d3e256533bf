"""Matplotlib figures of a :class:`~maiasim.Result`, the ones a capacity planner puts in a deck.

Each function returns the Figure (and saves it when given ``path``); nothing is shown, so the same
calls serve notebooks, scripts and ``maiasim run -o`` (:func:`save_all`). Figures are built with
matplotlib's object API on the Agg canvas, so a headless run never touches pyplot's global state;
only under a notebook's inline or widget backend are they registered with pyplot, so that the
notebook shows (and then closes) them as it does any figure. Axis labels and units come from the
column registry (:mod:`maiasim.results.columns`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from .results.columns import axis_label, column

#: the figures :func:`save_all` writes, as (file stem, function) pairs; filled in below
FIGURES: tuple = ()

_NOTEBOOK_BACKENDS = ("module://matplotlib_inline.backend_inline", "module://ipympl.backend_nbagg",
                      "inline", "nbagg", "widget", "ipympl")
_LATENCY = (("ttft_s", "ttft_p99_s"), ("tpot_s", "tpot_p99_s"), ("e2e_s", "e2e_p99_s"))


def _figure(figsize: tuple[float, float]):
    """A constrained-layout Figure: a plain ``matplotlib.figure.Figure`` (Agg canvas) unless a
    notebook backend is active, where pyplot creates it so the notebook displays it."""
    import matplotlib

    try:
        backend = matplotlib.get_backend(auto_select=False)  # matplotlib >= 3.10
    except TypeError:
        backend = matplotlib.rcParams["backend"]
    if str(backend).lower() in _NOTEBOOK_BACKENDS:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _done(fig, path):
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _fmt_s(x: float) -> str:
    """Seconds for a label: 2 s, 100 ms, 8.8 ms."""
    return f"{x:.3g} s" if x >= 1 else f"{x * 1e3:.3g} ms"


def _pct(ax, decimals: int | None = None) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=decimals))


def _headroom(ax, values, floor: float = 0.0) -> None:
    """A y axis from 0 to a little above the largest value (so a small value fills the panel)."""
    top = float(np.nanmax(values)) if len(values) and np.isfinite(np.nanmax(values)) else 0.0
    ax.set_ylim(0, max(top * 1.2, floor) or 1.0)


def _run_label(res) -> str:
    """chip, fleet and model: "16 x maia200 (4 x TP4), llama-3.1-70b fp8" (a fleet: per pool)."""
    parts = []
    for p in res.scenario.pools:
        d = p.deployment
        par = f"TP{d.tensor_parallel}" + (f"/PP{d.pipeline_parallel}" if d.pipeline_parallel > 1
                                          else "")
        par += f"/EP{d.expert_parallel}" if d.expert_parallel > 1 else ""
        name = "" if len(res.scenario.pools) == 1 else f"{p.name}: "
        parts.append(f"{name}{p.chips} x {p.chip_name} ({p.replicas} x {par}), {p.model_name} "
                     f"{p.precision.weights}")
    return "; ".join(parts)


def latency_cdf(res, path: str | os.PathLike | None = None):
    """Empirical CDFs of time to first token, time per output token and end-to-end latency of the
    completed requests, one line per workload (its p99 in the legend), with each workload's p99
    targets as labelled dashed vertical lines and the 99th percentile as a horizontal rule."""
    fig = _figure((13, 4.2))
    axes = fig.subplots(1, 3, sharey=True)
    req = res.requests
    req = req[req.status == "completed"]
    colors = [f"C{i % 10}" for i in range(len(res.scenario.workload))]
    for w, color in zip(res.scenario.workload, colors, strict=True):
        df = req[req.workload == w.name]
        for ax, (col, target_name) in zip(axes, _LATENCY, strict=True):
            v = np.sort(df[col].dropna().to_numpy())
            if len(v):
                p99 = float(np.quantile(v, 0.99))
                ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", color=color,
                        label=f"{w.name}: p99 {_fmt_s(p99)} (n={len(v):,})")
            target = getattr(w.slo, target_name, None)
            if target:
                ax.axvline(target, ls="--", lw=1.2, color=color,
                           label=f"{w.name}: p99 target {_fmt_s(target)}")
                ax.annotate(f"{w.name} p99 target {_fmt_s(target)}", (target, 0.5),
                            xycoords=("data", "axes fraction"), xytext=(-3, 0),
                            textcoords="offset points", ha="right", va="center", rotation=90,
                            fontsize=8, color=color)
    for ax, (col, _) in zip(axes, _LATENCY, strict=True):
        ax.set_xlabel(axis_label("requests", col) + ", log scale")
        _log_seconds(ax)
        ax.axhline(0.99, lw=0.8, color="grey", ls=":")
        ax.grid(alpha=0.3, which="both")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("share of completed requests (dotted: 99%)")
    _pct(axes[0], 0)
    fig.suptitle(f"{res.scenario.name}: latency of {len(req):,} completed requests\n"
                 f"{_run_label(res)}", fontsize=11)
    return _done(fig, path)


def _log_seconds(ax) -> None:
    """A log x axis with ticks at 1, 2 and 5 x 10^n, written as plain numbers (a CDF spanning
    less than a decade otherwise gets overlapping minor-tick labels or none)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _bin_s(res, tl) -> float:
    if len(tl) > 1:
        return float(tl.time_s.iloc[1] - tl.time_s.iloc[0])
    return float(res.scenario.engine.timeline_bin_s or max(res.duration_s, 1e-9))


def timeline(res, path: str | os.PathLike | None = None):
    """Cluster-wide throughput (output and prompt tokens/s), queued requests, KV cache in use (% of
    the fleet's KV capacity, on its own scale) and chip power (kW, between the fleet's idle and
    full power) over simulated time, in the timeline's bins (their width is in the title; the last
    bin ends with the run and is a mean over the time it covers)."""
    tl = res.timeline
    bin_s = _bin_s(res, tl)
    note = ""
    ends = np.minimum(tl.time_s.to_numpy() + bin_s, res.duration_s)
    x = (tl.time_s.to_numpy() + ends) / 2  # each bin's mean, at the middle of the time it covers
    fig = _figure((11, 9))
    axes = fig.subplots(4, 1, sharex=True)

    ax = axes[0]
    ax.plot(x, tl.throughput_tok_s, label="output tokens", color="C0")
    ax.plot(x, tl.prefill_tok_s, label="prompt tokens (prefill)", color="C1", alpha=0.8)
    ax.set_ylabel(f"throughput\n({column('timeline', 'throughput_tok_s').unit})")
    _headroom(ax, np.r_[tl.throughput_tok_s, tl.prefill_tok_s])
    ax.yaxis.set_major_formatter("{x:,.0f}")
    ax.legend(fontsize=8, loc="upper left", ncols=2)

    ax = axes[1]
    ax.plot(x, tl.queue_depth, color="C2")
    ax.set_ylabel(axis_label("timeline", "queue_depth", unit=False) + "\n(mean per bin)")
    _headroom(ax, tl.queue_depth.to_numpy(), floor=1.0)

    ax = axes[2]
    cap = float(res.replicas.kv_capacity_tokens.sum())
    ax.plot(x, tl.kv_used_frac, color="C3")
    ax.set_ylabel(f"{axis_label('timeline', 'kv_used_frac', unit=False)}\n"
                  f"(% of {cap / 1e6:.3g}M tokens)")
    _headroom(ax, tl.kv_used_frac.to_numpy(), floor=1e-4)
    _pct(ax)

    ax = axes[3]
    hw = res._hw
    full_kw = float((hw.chips * hw.power_w).sum()) / 1e3
    idle_kw = float((hw.chips * hw.idle_power_w).sum()) / 1e3
    ax.plot(x, tl.power_w / 1e3, color="C4", label="all chips")
    ax.axhline(full_kw, ls="--", lw=0.8, color="grey", label=f"full power {full_kw:,.3g} kW")
    ax.axhline(idle_kw, ls=":", lw=0.8, color="grey", label=f"idle {idle_kw:,.3g} kW")
    ax.set_ylabel("chip power\n(kW)")
    ax.set_ylim(0, full_kw * 1.1)
    ax.legend(fontsize=8, loc="lower right", ncols=3)

    horizon = float(res.scenario.horizon_s)
    drain = len(tl) and horizon < float(tl.time_s.iloc[-1]) + bin_s  # the drain is in view
    for ax in axes:
        ax.grid(alpha=0.3)
        if drain:
            ax.axvline(horizon, color="black", lw=0.6, ls="-.")
    if drain:
        axes[0].annotate("horizon: arrivals stop", (horizon, 1), xycoords=("data", "axes fraction"),
                         xytext=(-3, -10), textcoords="offset points", ha="right", fontsize=7)
    axes[-1].set_xlabel("simulated time (s)")
    fig.suptitle(f"{res.scenario.name}: cluster timeline, means over {bin_s:g} s bins{note}\n"
                 f"{_run_label(res)}", fontsize=11)
    return _done(fig, path)


_UTIL = (("busy_frac", "busy (running a step)", "of the run's time"),
         ("mfu", "MFU", "of dense peak FLOP/s"),
         ("mbu", "MBU", "of HBM bandwidth"),
         ("kv_peak_frac", "KV cache peak", "of the replica's KV capacity"))


def utilisation(res, path: str | os.PathLike | None = None):
    """Per-replica bars of busy fraction, MFU, memory-bandwidth utilisation and peak KV use, each
    on its own percentage scale (a replica can be busy 97% of the time at 1% MFU), with the fleet
    mean as a dashed line."""
    rp = res.replicas
    n = len(rp)
    fig = _figure((13, 4.2))
    axes = fig.subplots(1, 4)
    for i, (ax, (col, title, of)) in enumerate(zip(axes, _UTIL, strict=True)):
        v = rp[col].to_numpy(dtype=float)
        bars = ax.bar(rp.replica.to_numpy(), v, color=f"C{i}", width=0.7)
        if n > 1:
            mean = float(np.mean(v))
            ax.axhline(mean, ls="--", lw=0.9, color="black", label=f"fleet mean {mean:.2%}")
            ax.legend(fontsize=7, loc="lower right")
        if col == "busy_frac":
            ax.set_ylim(0, 1.05)
        else:
            _headroom(ax, v, floor=1e-4)
        _pct(ax)
        if n <= 6:  # more labels would overlap: the axis and the mean line say it
            ax.bar_label(bars, labels=[f"{x:.2%}" if x < 0.1 else f"{x:.1%}" for x in v],
                         fontsize=7, padding=2)
        if n <= 16:
            ax.set_xticks(rp.replica.to_numpy())
        ax.set_title(f"{title}\n{of}", fontsize=9)
        ax.set_xlabel(axis_label("replicas", "replica", unit=False))
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("% (each panel on its own scale)")
    fig.suptitle(f"{res.scenario.name}: utilisation of {n} replica{'s' * (n != 1)}\n"
                 f"{_run_label(res)}", fontsize=11)
    return _done(fig, path)


#: the spelling the notebooks used before
utilization = utilisation


def breakdown(res, path: str | os.PathLike | None = None):
    """Where a representative decode step's time goes (:meth:`Result.breakdown`): milliseconds
    per operator and the per-iteration overhead, with each share of the step; the title names the
    chip, model, parallelism, batch and context."""
    b = res.breakdown()
    attrs = b.attrs
    b = b[b.time_s > 0].sort_values("time_s")
    fig = _figure((9, 4.4))
    ax = fig.subplots()
    colors = ["C7" if op == "overhead" else "C0" for op in b.op]
    names = ["overhead (per iteration)" if op == "overhead" else op for op in b.op]
    bars = ax.barh(names, b.time_s * 1e3, color=colors)
    ax.bar_label(bars, labels=[f"{t * 1e3:.3g} ms ({s:.1%})" for t, s in zip(b.time_s, b.share,
                                                                            strict=True)],
                 fontsize=8, padding=3)
    ax.set_xlim(0, float(b.time_s.max()) * 1e3 * 1.3)
    ax.set_xlabel("milliseconds per decode step")
    ax.grid(alpha=0.3, axis="x")
    p = next(q for q in res.scenario.pools if q.name == attrs["pool"])
    where = "" if len(res.scenario.pools) == 1 else f"pool {p.name}: "
    step_ms = attrs.get("step_s", float(b.time_s.sum())) * 1e3
    ax.set_title(f"{where}decode step on {p.chip_name} (TP{p.deployment.tensor_parallel}), "
                 f"{p.model_name} {p.precision.weights}: {step_ms:.3g} ms\nbatch "
                 f"{attrs.get('batch', '?')} "
                 f"sequences at {attrs.get('context_tokens', 0):,} tokens of context each "
                 "(the run's mean batch and context)", fontsize=10)
    return _done(fig, path)


FIGURES = (("latency_cdf", latency_cdf), ("timeline", timeline),
           ("utilisation", utilisation), ("breakdown", breakdown))


def save_all(res, directory) -> list[Path]:
    """Write every figure of :data:`FIGURES` as ``<name>.png`` into ``directory``; returns the
    paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for name, fn in FIGURES:
        p = d / f"{name}.png"
        fig = fn(res, path=p)
        _release(fig)
        out.append(p)
    return out


def _release(fig) -> None:
    """Close a figure pyplot holds (under a notebook backend); a plain Figure needs nothing."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)  # a no-op for a figure pyplot does not manage
