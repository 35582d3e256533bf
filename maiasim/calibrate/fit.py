"""Fit a chip's calibration to measured times: :func:`fit_calibration` (``maiasim calibrate``).

Five kinds of measurement are understood, each with its own reader (:mod:`.readers`), predictor
(below) and default set of fitted factors (:data:`.parameters.DEFAULT_PARAMS`):

============ ======================================================= ============================
kind         CSV format                                              factors fitted by default
============ ======================================================= ============================
gemm         Vidur operator profile (``mlp.csv``: ``time_stats.<op>. GEMM plateau, half-efficiency
             median`` in ms per ``num_tokens`` and                   tokens, HBM fraction,
             ``num_tensor_parallel_workers``; TP-sharded shapes)     per-kernel latency
matmul       LLMCompass ``M, N, K, latency, TFLOPS`` rows            same as gemm
allreduce    Vidur collective profile (``all_reduce.csv``: median    all-reduce fraction,
             ms per ``size`` in bytes and ``num_workers``)           collective overhead
elementwise  LLMCompass ``elements, G elements/s`` or ``M, N, G      element-wise HBM fraction,
             elements/s`` rows (GeLU / LayerNorm / Softmax; FP16)    per-kernel latency
iteration    Splitwise ``perf_model.csv`` (prompt_time = one         per-iteration overhead,
             prefill step of ``batch_size`` prompts, token_time =    layer launch, attention and
             mean decode step; ms)                                   HBM efficiencies, plateau
============ ======================================================= ============================

Every prediction goes through the simulator's own physics (:func:`maiasim.physics.gemm_time`,
:func:`maiasim.physics.network.allreduce_time`, :class:`maiasim.physics.StepModel`), so a fitted
calibration means exactly what the simulator will do with it. The fit minimises the mean squared
log error (a relative error) with the bounded search of :mod:`.optimise`; only the rows marked
``fit`` by the split rule are used, and the report gives the error on every row, fitted and held
out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import catalog
from ..physics import Parallelism, Precisions, StepModel, elementwise_time, gemm_time
from ..physics.network import allreduce_time, send_time
from ..spec.calibration import Calibration
from ..spec.hardware import BYTES_PER_ELEMENT, ChipSpec
from .optimise import log_residuals, optimise
from .parameters import KINDS, param_names
from .readers import read_cases

#: Labels of the two parts of a dataset: rows the factors are fitted on, and rows only checked.
FIT, HELD_OUT = "fit", "held-out"


# ---- predictors (the simulator's physics) --------------------------------------------------------


def predict_gemm(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame,
                 precision: str = "bf16") -> np.ndarray:
    """Seconds for each M x K x N GEMM, one kernel, operands in ``precision``."""
    b = BYTES_PER_ELEMENT[precision]
    peak, bw = chip.peak_flops(precision), chip.hbm_bandwidth_bytes_per_s
    M, K, N = (cases[c].to_numpy(float) for c in ("M", "K", "N"))
    return gemm_time(peak, bw, calib, precision, M, K * N, K + N, b, b)[0]


def predict_collective(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame) -> np.ndarray:
    """Seconds per all-reduce (``bytes`` per chip over ``workers`` chips) or point-to-point send."""
    out = np.empty(len(cases))
    groups = cases.groupby(["collective", "workers", "devices_per_node"], sort=False)
    for (coll, workers, dpn), g in groups:
        pos = cases.index.get_indexer(g.index)
        if coll == "all_reduce":
            out[pos] = allreduce_time(chip, calib, int(workers), g.bytes.to_numpy(float))
        else:  # send_recv: both ranks in one node (devices_per_node > 1) use the inner tier
            out[pos] = send_time(chip, calib, g.bytes.to_numpy(float), 0 if dpn > 1 else 1)
    return out


def predict_elementwise(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame) -> np.ndarray:
    """Seconds for each element-wise kernel: every value read once and written once."""
    return elementwise_time(chip.hbm_bandwidth_bytes_per_s, calib,
                            cases.elements.to_numpy(float), 2.0,
                            cases.element_bytes.to_numpy(float))


def step_model_for(chip: ChipSpec, model_name: str, calib: Calibration, tp: int,
                   precision: str = "bf16", max_tokens: int = 8192) -> StepModel:
    """The simulator's step model of catalog model ``model_name`` at tensor parallelism ``tp``,
    every operand in ``precision``: what a Splitwise iteration is predicted with."""
    prec = Precisions(precision, precision, precision)
    return StepModel(chip, catalog.model(model_name), prec, Parallelism(tp), calib,
                     max_tokens=max_tokens)


def predict_iteration(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame,
                      precision: str = "bf16") -> np.ndarray:
    """Seconds per Splitwise iteration: a prefill step of ``batch`` x ``prompt`` tokens, or the
    mean decode step of ``batch`` sequences over ``tokens`` generated tokens (context
    ``prompt + tokens/2``)."""
    out = np.empty(len(cases))
    for (model, tp), g in cases.groupby(["catalog_model", "tp"], sort=False):
        step = step_model_for(chip, model, calib, int(tp), precision, max_tokens=1)
        p, b = g.prompt.to_numpy(float), g.batch.to_numpy(float)
        pre = (g.phase == "prefill").to_numpy()
        attn = np.array([step.prefill_attention(int(x), 0)[0] for x in p]) * b
        t_pre = step.step_times(p * b, b, 0, 0.0, attn)
        t_dec = step.step_times(b, b, b, b * (p + g.tokens.to_numpy(float) / 2.0))
        out[cases.index.get_indexer(g.index)] = np.where(pre, t_pre, t_dec)
    return out


def predict(kind: str, chip: ChipSpec, calib: Calibration, cases: pd.DataFrame,
            precision: str = "bf16") -> np.ndarray:
    """Seconds for every case of a fit ``kind`` under ``calib``: the kind's predictor."""
    if kind in ("gemm", "matmul"):
        return predict_gemm(chip, calib, cases, precision)
    if kind == "allreduce":
        return predict_collective(chip, calib, cases)
    if kind == "elementwise":
        return predict_elementwise(chip, calib, cases)
    return predict_iteration(chip, calib, cases, precision)


# ---- split rules: which rows are fitted and which are held out -----------------------------------

GEMM_FIT_TP = (1, 4)
ALLREDUCE_FIT_WORKERS = (2, 8)
SPLITWISE_HELD_OUT_PROMPTS = (256, 1024, 4096)
SPLITWISE_HELD_OUT_BATCHES = (2, 8, 32)
SPLITWISE_HELD_OUT_TOKENS = (256, 1024, 4096)


def split_rows(kind: str, cases: pd.DataFrame) -> np.ndarray:
    """Deterministic fit / held-out labels (documented in docs/validation.md): whole tensor-parallel
    degrees, group sizes or lengths are held out, so a held-out error measures extrapolation to
    configurations the fit never saw, not noise between neighbouring rows."""
    if kind == "gemm":
        return np.where(cases.tp.isin(GEMM_FIT_TP), FIT, HELD_OUT)
    if kind in ("matmul", "elementwise"):  # alternate rows of each sweep
        return np.where(np.arange(len(cases)) % 2 == 0, FIT, HELD_OUT)
    if kind == "allreduce":
        return np.where(cases.workers.isin(ALLREDUCE_FIT_WORKERS), FIT, HELD_OUT)
    if kind == "iteration":
        held = (cases.prompt.isin(SPLITWISE_HELD_OUT_PROMPTS)
                | cases.batch.isin(SPLITWISE_HELD_OUT_BATCHES)
                | cases.tokens.isin(SPLITWISE_HELD_OUT_TOKENS))
        return np.where(held, HELD_OUT, FIT)
    raise ValueError(f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")


# ---- the fit -------------------------------------------------------------------------------------


def report(cases: pd.DataFrame, predicted: np.ndarray) -> pd.DataFrame:
    """``cases`` with ``predicted_s`` and ``error_pct`` (signed: positive = predicted slower)."""
    out = cases.copy()
    out["predicted_s"] = predicted
    out["error_pct"] = 100.0 * (out.predicted_s - out.measured_s) / out.measured_s
    return out


def fit_calibration(chip: str | ChipSpec, kind: str, csv_path: str | Path, *,
                    base: Calibration | None = None, params: Sequence[str] | None = None,
                    precision: str = "bf16", hardware: str | None = None,
                    model: str | None = None, fit_all: bool = False,
                    cases: pd.DataFrame | None = None) -> tuple[Calibration, pd.DataFrame]:
    """Fit ``chip``'s calibration to a CSV of measured times.

    Returns the fitted :class:`Calibration` (``base``, by default the chip's shipped calibration,
    with the fitted factors replaced and their sources saying where they came from) and a report
    with one row per measured case: ``measured_s``, ``predicted_s``, ``error_pct`` and ``split``
    (``fit`` rows were used, ``held-out`` rows were not). ``fit_all`` fits on every row.
    ``cases`` may be given instead of reading ``csv_path`` (which then only names the source)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
    chip_name = chip if isinstance(chip, str) else "custom"
    spec = catalog.chip(chip) if isinstance(chip, str) else chip
    if base is None:
        base = catalog.calibration(chip) if isinstance(chip, str) else Calibration(chip="custom")
    if cases is None:
        cases = read_cases(kind, csv_path, hardware, model)
    cases = cases.reset_index(drop=True)
    if "split" not in cases:
        cases["split"] = FIT if fit_all else split_rows(kind, cases)
    names = param_names(kind, precision, params)
    train = cases[cases.split == FIT]
    if train.empty:
        raise ValueError("no rows to fit on")
    meas = train.measured_s.to_numpy()
    fitted = optimise(base, names,
                      lambda c: log_residuals(predict(kind, spec, c, train, precision), meas))
    where = "/".join(Path(csv_path).parts[-4:])
    src = (f"fitted by maiasim.calibrate.fit ({kind}) to {where}: {len(train)} of {len(cases)} "
           f"rows ({'all' if fit_all else 'fit split'})")
    sources = {k: v for k, v in base.sources.items() if k != "all"}
    fitted = fitted.model_copy(update={
        "chip": chip_name,
        "fitted_on": "; ".join(x for x in (base.fitted_on, f"{kind}: {where}") if x),
        "sources": {**sources, **{n.split(".")[0]: src for n in names}},
    })
    rep = report(cases, predict(kind, spec, fitted, cases, precision))
    return fitted, rep


def error_summary(rep: pd.DataFrame, by: Sequence[str] = ("split",)) -> pd.DataFrame:
    """Median, p90 and max absolute percentage error per group of a :func:`report`."""
    a = rep.assign(abs_err=rep.error_pct.abs())
    g = a.groupby(list(by), sort=False).abs_err
    return pd.DataFrame({"cases": g.size(), "median_abs_pct": g.median(),
                         "p90_abs_pct": g.quantile(0.9), "max_abs_pct": g.max()}).reset_index()


def calibration_yaml(calib: Calibration, header: str = "") -> str:
    """``calib`` as a calibration YAML file (the catalog's format), ``header`` as # comments."""
    data = calib.model_dump()
    data["ranges"] = {k: list(v) for k, v in data["ranges"].items()}
    text = yaml.safe_dump(data, sort_keys=False, width=120)
    head = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return head + text

