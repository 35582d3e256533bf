"""Maia 200 beside what Microsoft measured, and collectives by group size on six chips.

Maia 200 has no public measurements but Microsoft's own (``data/maia200.yaml``); the comparison
runs the simulator's physics on the cases those figures describe, nominal and over draws of the
calibration's ranges, so a reader sees both the agreement and how much it depends on the
uncertain factors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from maiasim import catalog
from maiasim.physics import Parallelism, Precisions, StepModel, gemm_time
from maiasim.physics.network import allgather_time, allreduce_time, alltoall_time, group_fanouts
from maiasim.spec.calibration import Calibration

from .common import config, model

#: A 1 GiB message: the bandwidth-bound regime the vendor's collective figures describe.
BIG = 1 << 30


def _gemm_pflops(cal: Calibration, prec: str, n: int = 16384) -> float:
    chip = catalog.chip("maia200")
    b = {"fp8": 1.0, "fp4": 0.5}[prec]
    t = gemm_time(chip.peak_flops(prec), chip.hbm_bandwidth_bytes_per_s, cal, prec, float(n),
                  float(n) * n, 2.0 * n, b, b)[0]
    return 2.0 * n ** 3 / float(t) / 1e15


def _ar_busbw(cal: Calibration, p: int = 8) -> float:
    return 2 * (p - 1) / p * BIG / allreduce_time(catalog.chip("maia200"), cal, p, BIG) / 1e9


def _ag_busbw(cal: Calibration, p: int = 8) -> float:
    return (p - 1) / p * BIG / allgather_time(catalog.chip("maia200"), cal, p, BIG) / 1e9


def _a2a_bw(cal: Calibration, p: int = 8) -> float:
    return (p - 1) / p * BIG / alltoall_time(catalog.chip("maia200"), cal, p, BIG) / 1e9


def _decode_fraction(cal: Calibration) -> float:
    """Fraction of the roofline at the smallest batch where the model reaches the vendor's
    decode rate."""
    target = config("maia200")["decode"]["tok_s"]
    for bsz in range(1, 257):
        if qwen_decode_tok_s(cal, bsz) >= target:
            return qwen_decode_tok_s(cal, bsz) / qwen_decode_tok_s(cal, bsz, ideal=True)
    return np.nan


#: The prediction behind each vendor figure, by its ``measure`` name in ``data/maia200.yaml``.
MEASURES: dict[str, Callable[[Calibration], float]] = {
    "gemm_fp8": lambda c: _gemm_pflops(c, "fp8"),
    "gemm_fp4": lambda c: _gemm_pflops(c, "fp4"),
    "allreduce_tp8": _ar_busbw,
    "allreduce_tp4": lambda c: _ar_busbw(c, 4),
    "allgather_8": _ag_busbw,
    "alltoall_tp8": _a2a_bw,
    "decode_roofline_fraction": _decode_fraction,
}


def maia200_comparison(samples: int | None = None,
                       seed: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model predictions beside Microsoft's figures, and Qwen 2.5 7B decode by batch; p5/p95 over
    ``samples`` draws of the calibration ranges (default and seed from ``data/maia200.yaml``)."""
    cfg = config("maia200")
    samples = cfg["samples"] if samples is None else samples
    seed = cfg["seed"] if seed is None else seed
    nominal = catalog.calibration("maia200")
    rng = np.random.default_rng(seed)
    draws = [nominal] + [nominal.sample(rng) for _ in range(samples)]
    rows = []
    for f in cfg["figures"]:
        fn, meas, unit = MEASURES[f["measure"]], f["microsoft"], f["unit"]
        # the decode search is slow: fewer draws
        vals = np.array([fn(c) for c in (draws if unit != "fraction" else draws[:41])])
        rows.append({"metric": f["metric"], "unit": unit, "microsoft": meas, "predicted": vals[0],
                     "p5": np.percentile(vals[1:], 5), "p95": np.percentile(vals[1:], 95),
                     "diff_pct": (100 * (vals[0] - meas) / meas) if meas else np.nan,
                     "source": f["source"]})
    qrows = []
    for bsz in cfg["decode"]["batches"]:
        vals = np.array([qwen_decode_tok_s(c, bsz) for c in draws[:61]])
        ideal = qwen_decode_tok_s(nominal, bsz, ideal=True)
        qrows.append({"batch": bsz, "predicted_tok_s": vals[0], "p5": np.percentile(vals[1:], 5),
                      "p95": np.percentile(vals[1:], 95), "roofline_tok_s": ideal,
                      "fraction_of_roofline": vals[0] / ideal})
    return pd.DataFrame(rows), pd.DataFrame(qrows)


def favourable(cal: Calibration) -> Calibration:
    """The calibration at the fast end of every range (fractions high, times and half-sizes low):
    the best case the ranges allow."""
    changes = {}
    for name, (lo, hi) in cal.ranges.items():
        fast = hi if name.endswith("fraction") else lo
        if name == "gemm_peak_fraction":
            base = cal.gemm_fraction("default")
            changes[name] = {k: min(1.0, v * fast / base)
                             for k, v in cal.gemm_peak_fraction.items()}
        else:
            changes[name] = fast
    return cal.model_copy(update=changes)


def qwen_decode_tok_s(cal: Calibration, batch: int, ctx: int | None = None,
                      prec: str | None = None, ideal: bool = False) -> float:
    """Decode tokens/s of Qwen 2.5 7B on one Maia 200 with ``batch`` sequences at ``ctx`` tokens of
    context (default: the vendor figure's 16k, FP8).

    ``ideal``: pure roofline (every factor 1, no overheads): the kind of 'estimated max' the vendor
    figure is compared against."""
    d = config("maia200")["decode"]
    ctx = d["context"] if ctx is None else ctx
    prec = d["precision"] if prec is None else prec
    chip = catalog.chip("maia200")
    if ideal:
        cal = Calibration(chip="ideal", gemm_peak_fraction={"default": 1.0}, gemm_half_tokens=0.0,
                          hbm_fraction=1.0, attention_prefill_fraction=1.0,
                          attention_decode_hbm_fraction=1.0, iteration_overhead_s=0.0,
                          collective_overhead_s=0.0)
    step = StepModel(chip, model(d["model"]), Precisions(prec, prec, prec), Parallelism(1), cal,
                     max_tokens=max(batch, 1))
    return batch / step.step_time(batch, batch, batch, float(batch * ctx))


def topology_table(message_bytes=(64 * 1024, 16 * 2 ** 20, 256 * 2 ** 20)) -> pd.DataFrame:
    """All-reduce, all-gather and all-to-all times by group size on six chips, with the network
    tiers each group crosses (groups placed contiguously)."""
    rows = []
    for chip_name in ("maia200", "h100", "gb200", "mi300x", "tpu-v7", "trainium3"):
        chip, cal = catalog.chip(chip_name), catalog.calibration(chip_name)
        for p in (2, 4, 8, 16, 32, 64, 128):
            if p > chip.scale_up[-1].chips:
                continue
            tiers = " > ".join(f"{t.name}x{f}" for t, f in group_fanouts(chip, p))
            for m in message_bytes:
                ar = float(allreduce_time(chip, cal, p, m))
                rows.append({"chip": chip_name, "group": p, "tiers": tiers, "message_bytes": m,
                             "allreduce_s": ar,
                             "allgather_s": float(allgather_time(chip, cal, p, m)),
                             "alltoall_s": float(alltoall_time(chip, cal, p, m)),
                             "allreduce_busbw_gb_s": 2 * (p - 1) / p * m / ar / 1e9})
    return pd.DataFrame(rows)
