"""Figures of a study: what a chip choice costs at its latency (:func:`pareto`, from a capacity
plan) and where latency turns up with load (:func:`load_latency`, from a sweep over a rate)."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from .style import done, figure, fmt_s, log_seconds

_MARKERS = "osD^vP*X<>h"


def pareto(plan: pd.DataFrame, path: str | os.PathLike | None = None, *,
           latency: str = "ttft_p99_s", slo: float | None = None, title: str | None = None):
    """Cost per million output tokens against a p99 latency for every feasible plan row (one per
    chip and TP, from :func:`maiasim.studies.plan.plan`), the cheapest-for-its-latency points
    joined as the Pareto front.

    Every chip is shown: a plan without a price (no ``--price``, no catalog or scenario price)
    sits on a separate "unpriced" band above the priced ones, at its latency, with a note; each
    point is labelled with chip, fleet and cost basis (``cost_source``). Chips with no feasible
    plan are listed under the axis with the reason. ``latency``: ``ttft_p99_s``, ``tpot_p99_s`` or
    ``e2e_p99_s``; ``slo``: its target, drawn as a dashed line."""
    feas = plan[plan.feasible.astype(bool)].copy()
    cost = "usd_per_m_output_tok"
    priced = feas[feas[cost].notna() & np.isfinite(feas[cost].astype(float))]
    unpriced = feas.drop(priced.index)
    fig = figure((14, 6.5))
    grid = fig.add_gridspec(2, 1, height_ratios=[5, 1] if len(unpriced) else [1, 1e-6])
    ax = fig.add_subplot(grid[0])
    band = fig.add_subplot(grid[1], sharex=ax)
    chips = list(dict.fromkeys(plan.chip))
    style = {c: (f"C{i % 10}", _MARKERS[i % len(_MARKERS)]) for i, c in enumerate(chips)}
    top = max(float(priced[cost].max()) * 1.25, 1e-9) if len(priced) else 1.0
    for chip, g in priced.groupby("chip", sort=False):
        color, marker = style[chip]
        ax.scatter(g[latency], g[cost], color=color, marker=marker, s=60, zorder=3,
                   label=f"{chip}:\n{_basis(g.iloc[0], 80)}")
        for k, (_, r) in enumerate(g.sort_values(latency).iterrows()):
            ax.annotate(_point_label(r), (r[latency], r[cost]), fontsize=7, color=color,
                        xytext=(6, 4 if k % 2 == 0 or r[cost] < 0.1 * top else -11),
                        textcoords="offset points")
    front = _front(priced, latency, cost)
    if len(front) > 1:
        ax.plot(front[latency], front[cost], color="grey", lw=1, ls="-", zorder=1,
                label="Pareto front")
    if slo:
        for a in (ax, band):
            a.axvline(slo, ls="--", lw=0.9, color="grey")
        ax.annotate(f"p99 target {fmt_s(slo)}", (slo, 1), xycoords=("data", "axes fraction"),
                    xytext=(-3, -12), textcoords="offset points", ha="right", fontsize=8)
    ax.set_ylabel("USD per million output tokens\n(prompt work folded in)")
    ax.set_ylim(0, top)
    ax.grid(alpha=0.3, which="both")
    ax.tick_params(labelbottom=False)
    if not len(priced):
        ax.text(0.5, 0.5, "no feasible plan has a price: give one with --price CHIP=USD",
                transform=ax.transAxes, ha="center", va="center", fontsize=9)
    for i, (_, r) in enumerate(unpriced.iterrows()):
        color, marker = style[r.chip]
        y = (i % 3) / 3 + 1 / 6  # stagger labels of nearby points
        band.scatter([r[latency]], [y], color=color, marker=marker, s=60, zorder=3,
                     label=f"{r.chip}: unpriced")
        band.annotate(_point_label(r, basis=False), (r[latency], y), fontsize=7, xytext=(6, 0),
                      textcoords="offset points", va="center", color=color)
    band.set_ylim(0, 1)
    band.set_yticks([])
    band.set_ylabel("unpriced", rotation=0, ha="right", va="center", fontsize=9)
    if len(unpriced):
        band.set_title("no price for these chips (cost unknown, not zero): give one with "
                       "--price CHIP=USD or cost.chip_hour_usd", fontsize=8, loc="left")
    else:
        band.set_visible(False)
        ax.tick_params(labelbottom=True)
    bottom = band if len(unpriced) else ax
    bottom.set_xlabel(_latency_label(latency) + ", log scale")
    for a in (ax, band):
        log_seconds(a)
    handles = {}
    for a in (ax, band):
        for h, lab in zip(*a.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), fontsize=8, loc="outside right upper",
               title="chip: price per chip-hour\nand its basis", title_fontsize=8)
    head = title or "cost versus p99 latency of the cheapest fleet per chip and TP"
    bases = {str(s).split(" (")[0] for s in priced.get("cost_source", pd.Series()).dropna()}
    if len(bases) > 1:
        head += "\nprices on different bases (rental, owner's TCO, assumed): compare like with like"
    ax.set_title(head, fontsize=10, loc="left")
    infeasible = plan[~plan.feasible.astype(bool)]
    if len(infeasible):
        lines = [f"{chip} ({', '.join(f'TP{t}' for t in g.tensor_parallel)}): "
                 f"{_short(g.reason.iloc[0], 110)}" for chip, g in infeasible.groupby("chip")]
        fig.supxlabel("no feasible plan: " + "\n".join(lines), fontsize=8, ha="left", x=0.01)
    return done(fig, path)


def _point_label(r, basis: bool = True) -> str:
    """``maia200 TP4 x 2`` and, when priced, the basis of its price in short:
    ``maia200 TP4 x 2, $4.25/h scenario price`` (the legend gives each chip's in full)."""
    text = f"{r.chip} TP{r.tensor_parallel} x {_int(r.replicas)}"
    if basis:
        price = r.get("chip_hour_usd")
        usd = "" if _nan(price) else f"${price:.3g}/h "
        text += f", {usd}{_tag(r.get('cost_source'))}".replace("$", r"\$")
    return text


#: short names of the price bases a plan row's ``cost_source`` starts with
_TAGS = (("plan prices", "--price"), ("scenario cost.tco", "scenario TCO"),
         ("scenario", "scenario price"), ("catalog price", "catalog rental"),
         ("catalog capex", "owner's TCO"))


def _tag(source) -> str:
    src = str(source or "price source unknown")
    return next((tag for start, tag in _TAGS if src.startswith(start)), _short(src, 24))


def _basis(r, n: int) -> str:
    """The price and where it came from, ``$4.25/chip-h, catalog price.chip_hour_usd``, cut to
    ``n`` characters."""
    src = str(r.get("cost_source") or "price source unknown")
    price = r.get("chip_hour_usd")
    text = f"${price:.3g}/chip-h, {src}" if price is not None and not _nan(price) else src
    return _short(text, n).replace("$", r"\$")  # no mathtext between two dollar signs


def _front(df: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The points no other point beats on both ``x`` and ``y`` (lower is better), by ``x``."""
    d = df[[x, y]].astype(float).dropna().sort_values([x, y])
    keep, best = [], math.inf
    for idx, v in d[y].items():
        if v < best:
            keep.append(idx)
            best = v
    return d.loc[keep]


def load_latency(sweep: pd.DataFrame, path: str | os.PathLike | None = None, *,
                 rate: str | None = None,
                 latencies: tuple[str, ...] = ("ttft_p99_s", "tpot_p99_s", "e2e_p99_s"),
                 slo: dict[str, float] | None = None, title: str | None = None,
                 unit: str = "requests/s"):
    """p99 latencies against offered load from a sweep over an arrival rate (one row per point
    and replication, from :func:`maiasim.sweep`): the knee where queueing starts. One panel per
    latency, on a log scale: the mean over replications, their range shaded, and the knee marked
    (the first rate whose p99 is twice the lowest rate's). Below, the achieved output tokens/s
    beside the line proportional to the load through the lowest rate, to show where throughput
    stops following the load.

    ``rate``: the swept column (default: the first grid key whose name ends in ``rate_per_s``; any
    numeric column of offered requests/s will do, e.g. one computed from a swept ``time_scale``);
    ``unit``: of the rate, for the axis (e.g. "x the trace's recorded rate" for the inverse of a
    swept ``time_scale``); ``slo``: targets by latency column, drawn as dashed lines. Rows with an
    ``error`` are left out and counted in the title."""
    key = rate or _rate_key(sweep)
    ok = sweep[sweep.error.isna()] if "error" in sweep.columns else sweep
    failed = len(sweep) - len(ok)
    cols = [c for c in (*latencies, "output_tok_s") if c in ok.columns]
    g = ok.groupby(key)[cols].agg(["mean", "min", "max"]).sort_index()
    x = g.index.to_numpy(dtype=float)
    fig = figure((4.3 * len(latencies), 6.8))
    grid = fig.add_gridspec(2, len(latencies), height_ratios=[3, 1.3])
    reps = int(ok.groupby(key).size().max()) if len(ok) else 0
    for i, col in enumerate(latencies):
        ax = fig.add_subplot(grid[0, i])
        mean = g[(col, "mean")].to_numpy(dtype=float)
        ax.plot(x, mean, marker="o", color=f"C{i}", label="p99, mean over replications"
                if reps > 1 else "p99")
        if reps > 1:
            ax.fill_between(x, g[(col, "min")], g[(col, "max")], color=f"C{i}", alpha=0.2,
                            label=f"range over {reps} replications")
        target = (slo or {}).get(col)
        if target:
            ax.axhline(target, ls="--", lw=1, color="grey", label=f"p99 target {fmt_s(target)}")
        knee = _knee(x, mean)
        if knee is not None:
            ax.axvline(knee, ls=":", lw=1, color="black",
                       label=f"knee: {knee:.3g}{_per(unit)} (p99 twice the lowest rate's)")
        lo, hi = np.nanmin(g[(col, "min")]), np.nanmax(g[(col, "max")])
        log_seconds(ax, "y", span=hi / lo if lo > 0 else 10.0)
        ax.set_title(_latency_label(col), fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper left")
        if i == 0:
            ax.set_ylabel("seconds, log scale")
    low = fig.add_subplot(grid[1, :])
    if "output_tok_s" in cols and len(x):
        tok = g[("output_tok_s", "mean")].to_numpy(dtype=float)
        low.plot(x, tok, marker="o", color="C7", label="achieved output tokens/s")
        if x[0] > 0:
            low.plot(x, tok[0] * x / x[0], ls="--", lw=1, color="grey",
                     label="proportional to the load (from the lowest rate)")
        low.legend(fontsize=7, loc="upper left")
    low.set_xlabel(f"offered load: {key} ({unit})")
    low.set_ylabel("output tokens/s")
    low.grid(alpha=0.3)
    low.yaxis.set_major_formatter("{x:,.0f}")
    head = title or f"p99 latency against offered load ({len(g)} rates)"
    if failed:
        head += f"; {failed} run{'s' * (failed != 1)} failed and left out"
    fig.suptitle(head, fontsize=10)
    return done(fig, path)


def _per(unit: str) -> str:
    """How a rate's value reads: ``/s`` for requests per second, ``x`` for a multiple."""
    return "/s" if unit == "requests/s" else "x" if unit.startswith("x ") else f" {unit}"


def _rate_key(df: pd.DataFrame) -> str:
    keys = df.attrs.get("grid") or list(df.columns)
    for k in keys:
        if str(k).endswith("rate_per_s"):
            return k
    raise ValueError(f"load_latency needs a sweep over an arrival rate (a grid key ending in "
                     f"rate_per_s, e.g. workload.0.arrival.rate_per_s); grid keys: {keys}")


def _knee(x: np.ndarray, y: np.ndarray) -> float | None:
    """The first rate whose p99 is at least twice the lowest rate's (None if none is)."""
    if len(x) < 3 or not np.isfinite(y[0]):
        return None
    hit = np.flatnonzero(np.isfinite(y) & (y >= 2 * y[0]))
    return float(x[hit[0]]) if len(hit) else None


_NAMES = {"ttft_p99_s": "p99 time to first token", "tpot_p99_s": "p99 time per output token",
          "e2e_p99_s": "p99 end-to-end latency"}


def _latency_label(col: str) -> str:
    return f"{_NAMES.get(col, col)} (s)"


def _int(v) -> str:
    return "?" if _nan(v) else str(int(v))


def _nan(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _short(text, n: int = 60) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 3] + "..."
