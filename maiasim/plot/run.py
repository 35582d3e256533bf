"""The figures of one run (a :class:`~maiasim.Result`): latency CDFs, the timeline,
utilisation and the step breakdown; :func:`save_all` writes them all (``maiasim run -o``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..results.columns import axis_label, column
from .style import done, figure, fmt_s, headroom, log_seconds, pct, release

#: the figures :func:`save_all` writes, as (file stem, function) pairs; filled in below
FIGURES: tuple = ()

_LATENCY = (("ttft_s", "ttft_p99_s"), ("tpot_s", "tpot_p99_s"), ("e2e_s", "e2e_p99_s"))

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
    fig = figure((13, 4.2))
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
                        label=f"{w.name}: p99 {fmt_s(p99)} (n={len(v):,})")
            target = getattr(w.slo, target_name, None)
            if target:
                ax.axvline(target, ls="--", lw=1.2, color=color,
                           label=f"{w.name}: p99 target {fmt_s(target)}")
                ax.annotate(f"{w.name} p99 target {fmt_s(target)}", (target, 0.5),
                            xycoords=("data", "axes fraction"), xytext=(-3, 0),
                            textcoords="offset points", ha="right", va="center", rotation=90,
                            fontsize=8, color=color)
    for ax, (col, _) in zip(axes, _LATENCY, strict=True):
        ax.set_xlabel(axis_label("requests", col) + ", log scale")
        log_seconds(ax)
        ax.axhline(0.99, lw=0.8, color="grey", ls=":")
        ax.grid(alpha=0.3, which="both")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("share of completed requests (dotted: 99%)")
    pct(axes[0], 0)
    fig.suptitle(f"{res.scenario.name}: latency of {len(req):,} completed requests\n"
                 f"{_run_label(res)}", fontsize=11)
    return done(fig, path)


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
    fig = figure((11, 9))
    axes = fig.subplots(4, 1, sharex=True)

    ax = axes[0]
    ax.plot(x, tl.output_tok_s, label="output tokens", color="C0")
    ax.plot(x, tl.prefill_tok_s, label="prompt tokens (prefill)", color="C1", alpha=0.8)
    ax.set_ylabel(f"throughput\n({column('timeline', 'output_tok_s').unit})")
    headroom(ax, np.r_[tl.output_tok_s, tl.prefill_tok_s])
    ax.yaxis.set_major_formatter("{x:,.0f}")
    ax.legend(fontsize=8, loc="upper left", ncols=2)

    ax = axes[1]
    ax.plot(x, tl.queue_depth, color="C2")
    ax.set_ylabel(axis_label("timeline", "queue_depth", unit=False) + "\n(mean per bin)")
    headroom(ax, tl.queue_depth.to_numpy(), floor=1.0)

    ax = axes[2]
    cap = float(res.replicas.kv_capacity_tokens.sum())
    ax.plot(x, tl.kv_used_frac, color="C3")
    ax.set_ylabel(f"{axis_label('timeline', 'kv_used_frac', unit=False)}\n"
                  f"(% of {cap / 1e6:.3g}M tokens)")
    headroom(ax, tl.kv_used_frac.to_numpy(), floor=1e-4)
    pct(ax)

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
    return done(fig, path)


_UTIL = (("stepping_frac", "stepping (running any step)", "share of the run's time"),
         ("mfu", "MFU, time-weighted", "of dense peak FLOP/s over the run"),
         ("mbu", "MBU, time-weighted", "of HBM bandwidth over the run"),
         ("kv_mean_frac", "KV cache in use, time-weighted", "of the replica's KV capacity"))


def utilisation(res, path: str | os.PathLike | None = None):
    """Per-replica bars of the share of time spent stepping, then MFU, memory-bandwidth
    utilisation and KV use, each time-weighted over the whole run and on its own percentage scale
    (a replica can step 97% of the time at 1% MFU), with the fleet mean as a dashed line and each
    replica's peak KV use as a marker. In a fleet of several pools the bars are coloured by pool
    (legend below)."""
    rp = res.replicas
    n = len(rp)
    x = rp.replica.to_numpy()
    pools = list(dict.fromkeys(rp.pool.astype(str))) if "pool" in rp.columns else []
    by_pool = len(pools) > 1
    fig = figure((13, 4.8 if by_pool else 4.4))
    axes = fig.subplots(1, 4)
    for i, (ax, (col, title, of)) in enumerate(zip(axes, _UTIL, strict=True)):
        v = rp[col].to_numpy(dtype=float)
        color = ([f"C{pools.index(q)}" for q in rp.pool.astype(str)] if by_pool else f"C{i}")
        bars = ax.bar(x, v, color=color, width=0.7)
        top, notes = v, []
        if n > 1:
            mean = float(np.nanmean(v))
            ax.axhline(mean, ls="--", lw=0.9, color="black")
            notes.append(f"fleet mean {mean:.2%} (dashed)")
        if col == "kv_mean_frac":
            peak = rp.kv_peak_frac.to_numpy(dtype=float)
            ax.scatter(x, peak, marker="_", s=300, color="black", linewidths=1.5, zorder=3)
            notes.append(f"peak: black marks (max {np.nanmax(peak):.2%})")
            top = np.r_[v, peak]
        if col == "stepping_frac":
            ax.set_ylim(0, 1.05)
        else:
            headroom(ax, top, floor=1e-4)
        pct(ax)
        if n <= 6:  # more labels would overlap: the axis and the mean line say it
            ax.bar_label(bars, labels=[f"{y:.2%}" if y < 0.1 else f"{y:.1%}" for y in v],
                         fontsize=7, padding=2)
        if n <= 16:
            ax.set_xticks(x)
        ax.set_title("\n".join([f"{title}", of, *notes]), fontsize=9)
        ax.set_xlabel(axis_label("replicas", "replica", unit=False))
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("% (each panel on its own scale)")
    if by_pool:
        from matplotlib.patches import Patch

        fig.legend([Patch(color=f"C{k}") for k in range(len(pools))], pools, loc="outside lower "
                   "center", ncols=len(pools), fontsize=8, title="pool", title_fontsize=8)
    fig.suptitle(f"{res.scenario.name}: utilisation of {n} replica{'s' * (n != 1)} (stepping is "
                 f"not fullness: read MFU, MBU and KV)\n{_run_label(res)}", fontsize=11)
    return done(fig, path)


#: the spelling the notebooks used before
utilization = utilisation


def breakdown(res, path: str | os.PathLike | None = None):
    """Where a representative decode step's time goes (:meth:`Result.breakdown`): milliseconds
    per operator and the per-iteration overhead, with each share of the step; the title names the
    chip, model, parallelism, batch and context."""
    b = res.breakdown()
    attrs = b.attrs
    b = b[b.time_s > 0].sort_values("time_s")
    fig = figure((9, 4.4))
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
    return done(fig, path)


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
        release(fig)
        out.append(p)
    return out
