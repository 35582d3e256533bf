"""The report's plots: predicted against measured time per dataset group, all-reduce bandwidth by
group size, and Maia 200 against the vendor's figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from maiasim.calibrate import fit

from .common import Dataset

COLORS = {fit.FIT: "tab:blue", fit.HELD_OUT: "tab:orange"}


def _scatter(ax, rep: pd.DataFrame, title: str) -> None:
    """Predicted vs measured (ms, log-log), fitted and held-out rows apart, with +-15% lines."""
    for split, g in rep.groupby("split"):
        ax.scatter(g.measured_s * 1e3, g.predicted_s * 1e3, s=6, alpha=0.5, color=COLORS[split],
                   label=split)
    lo = min(rep.measured_s.min(), rep.predicted_s.min()) * 1e3
    hi = max(rep.measured_s.max(), rep.predicted_s.max()) * 1e3
    xs = np.array([lo, hi])
    ax.plot(xs, xs, "k-", lw=0.8)
    ax.plot(xs, xs * 1.15, "k:", lw=0.6)
    ax.plot(xs, xs / 1.15, "k:", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("measured (ms)", fontsize=7)
    ax.set_ylabel("predicted (ms)", fontsize=7)
    ax.tick_params(which="both", labelsize=6)
    ax.legend(fontsize=6)


def write_plots(datasets: list[Dataset], topo: pd.DataFrame, maia: pd.DataFrame,
                out: Path) -> list[str]:
    """Write the report's PNGs into ``out``; returns their file names in the order shown."""
    matplotlib.use("Agg")  # files only, whatever the environment's display
    files = []

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files.append(name)

    gem = [d for d in datasets if d.group == "gemm"]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7))
    for ax, d in zip(axes.flat, gem, strict=False):
        _scatter(ax, d.report, d.title)
    for ax in list(axes.flat)[len(gem):]:
        ax.axis("off")
    fig.suptitle("GEMM kernels: predicted vs measured (dotted: +-15%)", fontsize=10)
    save(fig, "gemm.png")

    ew = [d for d in datasets if d.group == "elementwise"]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7))
    for ax, d in zip(axes.flat, ew, strict=False):
        _scatter(ax, d.report, d.title)
    fig.suptitle("Element-wise kernels (LLMCompass): predicted vs measured (dotted: +-15%)",
                 fontsize=10)
    save(fig, "elementwise.png")

    ar = next(d for d in datasets if d.group == "allreduce").report
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = ("tab:blue", "tab:orange", "tab:green")
    for (w, g), c in zip(ar.groupby("workers"), colors, strict=False):
        g = g.sort_values("bytes")
        ax.plot(g.bytes, g.measured_s * 1e3, ".", ms=2, color=c, alpha=0.5,
                label=f"{w} GPUs measured")
        ax.plot(g.bytes, g.predicted_s * 1e3, "-", color=c,
                label=f"{w} GPUs model ({g.split.iloc[0]})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("message (bytes per GPU)")
    ax.set_ylabel("all-reduce time (ms)")
    ax.set_title("NCCL all-reduce on DGX-H100 (Vidur): alpha-beta model")
    ax.legend(fontsize=7)
    save(fig, "allreduce.png")

    sw = [d for d in datasets if d.group == "splitwise"]
    fig, axes = plt.subplots(len(sw), 2, figsize=(10, 4.2 * len(sw)), squeeze=False)
    for row, d in zip(axes, sw, strict=True):
        for ax, phase in zip(row, ("prefill", "decode"), strict=True):
            _scatter(ax, d.report[d.report.phase == phase], f"{d.chip.upper()} {phase} (Splitwise)")
    save(fig, "splitwise.png")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    big = topo[topo.message_bytes == topo.message_bytes.max()]
    for chip, g in big.groupby("chip", sort=False):
        ax.plot(g.group, g.allreduce_busbw_gb_s, "o-", label=chip)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("all-reduce group size (chips, placed contiguously)")
    ax.set_ylabel(f"bus bandwidth (GB/s) at {big.message_bytes.iloc[0] // 2 ** 20} MiB")
    ax.set_title("All-reduce bus bandwidth by group size: tiers show as steps")
    ax.legend(fontsize=7)
    save(fig, "topology.png")

    m = maia.dropna(subset=["microsoft"])
    fig, ax = plt.subplots(figsize=(11, 4))
    y = np.arange(len(m))
    ratio = m.predicted / m.microsoft
    ax.barh(y, ratio, xerr=[ratio - m.p5 / m.microsoft, m.p95 / m.microsoft - ratio],
            color="tab:blue", alpha=0.7)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(y, list(m.metric), fontsize=7)
    ax.set_xlabel("maiasim prediction / Microsoft measurement (bars: p5-p95 over calibration "
                  "ranges)")
    ax.set_title("Maia 200: model vs vendor-measured figures (HARDWARE_FACTS §1b)", fontsize=9)
    save(fig, "maia200.png")
    return files
