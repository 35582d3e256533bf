"""Fit a chip's calibration to measured times: ``maiasim calibrate`` and :func:`fit_calibration`.

Five kinds of measurement are understood, each with its own reader, predictor and default set of
fitted factors:

==========  ==========================================================  ==============================
kind        CSV format                                                  factors fitted by default
==========  ==========================================================  ==============================
gemm        Vidur operator profile (``mlp.csv``: ``time_stats.<op>.     GEMM plateau, half-efficiency
            median`` in ms per ``num_tokens`` and                        tokens, HBM fraction, per-kernel
            ``num_tensor_parallel_workers``; TP-sharded shapes)          latency
matmul      LLMCompass ``M, N, K, latency, TFLOPS`` rows (no header)     same as gemm
allreduce   Vidur collective profile (``all_reduce.csv``: median ms per  all-reduce fraction, collective
            ``size`` in bytes and ``num_workers``)                       overhead, half-efficiency bytes
elementwise LLMCompass ``elements, G elements/s`` or ``M, N, G elements/s`` element-wise HBM fraction,
            rows (GeLU / LayerNorm / Softmax; no header; FP16)           per-kernel latency
iteration   Splitwise ``perf_model.csv`` (prompt_time = one prefill      per-iteration and per-layer
            step of ``batch_size`` prompts, token_time = mean decode     overheads, host launch floor,
            step; ms)                                                    attention and HBM efficiencies
==========  ==========================================================  ==============================

Every prediction goes through the simulator's own physics (:func:`maiasim.physics.step.gemm_time`,
:func:`maiasim.physics.network.allreduce_time`, :class:`maiasim.physics.step.StepModel`), so a fitted calibration
means exactly what the simulator will do with it. The fit minimises the mean squared log error (a
relative error) with bounded Nelder-Mead and Levenberg-Marquardt searches written in numpy; only the rows marked ``fit`` by
the split rule are used, and the report gives the error on every row, fitted and held out.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .. import catalog
from ..physics.network import allreduce_time, send_time
from ..physics.step import Parallelism, Precisions, StepModel, elementwise_time, gemm_time
from ..spec.calibration import Calibration
from ..spec.hardware import BYTES_PER_ELEMENT, ChipSpec

KINDS = ("gemm", "matmul", "allreduce", "elementwise", "iteration")
FIT, HELD_OUT = "fit", "held-out"

#: Splitwise names -> catalog names
SPLITWISE_MODELS = {"llama2-70b": "llama-2-70b", "bloom-176b": "bloom-176b"}
SPLITWISE_HARDWARE = {"a100-80gb": "a100", "h100-80gb": "h100", "h100-80gb-pcap": "h100"}


# ---- parameters: names, bounds, setting them on a frozen Calibration -------------------------------------


@dataclass(frozen=True)
class Param:
    """One fitted factor: ``name`` is a Calibration field, or ``gemm_peak_fraction.<precision>``."""

    name: str
    lo: float
    hi: float
    log: bool = False  # search in log space (for quantities spanning decades)


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("gemm_peak_fraction.bf16", 0.2, 1.0),
    Param("gemm_peak_fraction.fp8", 0.2, 1.0),
    Param("gemm_peak_fraction.fp4", 0.2, 1.0),
    Param("gemm_half_tokens", 0.5, 2048.0, log=True),
    Param("hbm_fraction", 0.2, 1.0),
    Param("elementwise_fraction", 0.05, 1.0),
    Param("elementwise_latency_s", 1e-7, 2e-4, log=True),
    Param("gemm_latency_s", 1e-7, 1e-4, log=True),
    Param("attention_prefill_fraction", 0.02, 1.0, log=True),
    Param("attention_decode_hbm_fraction", 0.05, 1.0),
    Param("allreduce_fraction", 0.1, 1.5),
    Param("alltoall_fraction", 0.05, 1.5),
    Param("collective_overhead_s", 1e-7, 2e-4, log=True),
    Param("collective_half_bytes", 1.0, 1e8, log=True),
    Param("iteration_overhead_s", 1e-5, 0.1, log=True),
    Param("per_sequence_overhead_s", 1e-7, 1e-2, log=True),
    Param("layer_launch_s", 1e-6, 2e-3, log=True),
    Param("prefill_layer_launch_s", 1e-6, 2e-3, log=True),
    Param("allreduce_knee_tokens", 128.0, 65536.0, log=True),
    Param("allreduce_knee_slowdown", 0.0, 10.0),
    Param("allreduce_knee_width", 0.35, 2.0, log=True),
    Param("collective_rank_latency_s", 1e-8, 1e-4, log=True),
    Param("per_token_overhead_s", 1e-9, 1e-3, log=True),
)}

DEFAULT_PARAMS: dict[str, tuple[str, ...]] = {
    "gemm": ("gemm_peak_fraction.{prec}", "gemm_half_tokens", "hbm_fraction", "gemm_latency_s"),
    "matmul": ("gemm_peak_fraction.{prec}", "gemm_half_tokens", "hbm_fraction", "gemm_latency_s"),
    "allreduce": ("allreduce_fraction", "collective_overhead_s"),
    "elementwise": ("elementwise_fraction", "elementwise_latency_s"),
    "iteration": ("iteration_overhead_s", "layer_launch_s", "attention_prefill_fraction", "hbm_fraction",
                  "gemm_peak_fraction.{prec}"),
}


def get_param(calib: Calibration, name: str) -> float:
    if name.startswith("gemm_peak_fraction."):
        return calib.gemm_fraction(name.split(".", 1)[1])
    if name == "prefill_layer_launch_s":
        return calib.prefill_launch_s
    if name == "elementwise_fraction":
        return calib.elementwise_hbm_fraction
    return float(getattr(calib, name))


def set_params(calib: Calibration, values: dict[str, float]) -> Calibration:
    """A copy of ``calib`` with the given factors changed (validated)."""
    data = calib.model_dump()
    for name, v in values.items():
        if name.startswith("gemm_peak_fraction."):
            data["gemm_peak_fraction"] = {**data["gemm_peak_fraction"], name.split(".", 1)[1]: float(v)}
        else:
            data[name] = float(v)
    return Calibration.model_validate(data)


# ---- a small bounded optimiser (numpy only) -----------------------------------------------------------


def _to_unit(p: Param, v: float) -> float:
    lo, hi, v = (math.log(p.lo), math.log(p.hi), math.log(max(v, p.lo))) if p.log else (p.lo, p.hi, v)
    # logit: the search space is unbounded; a start on a bound is nudged inside, or it could not move
    u = min(max((v - lo) / (hi - lo), 1e-2), 1 - 1e-2)
    return math.log(u / (1 - u))


def _from_unit(p: Param, x: float) -> float:
    u = 1.0 / (1.0 + math.exp(-max(min(x, 40.0), -40.0)))
    if p.log:
        return math.exp(math.log(p.lo) + u * (math.log(p.hi) - math.log(p.lo)))
    return p.lo + u * (p.hi - p.lo)


def nelder_mead(f: Callable[[np.ndarray], float], x0: np.ndarray, step: float = 0.6, iters: int = 600,
                tol: float = 1e-9) -> tuple[np.ndarray, float]:
    """Minimise ``f`` from ``x0`` (standard Nelder-Mead: reflect, expand, contract, shrink)."""
    n = len(x0)
    pts = [np.asarray(x0, float)] + [np.asarray(x0, float) + step * np.eye(n)[i] for i in range(n)]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts, vals = [pts[i] for i in order], [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) < tol * (1 + abs(vals[0])):
            break
        centroid = np.mean(pts[:-1], axis=0)
        xr = centroid + (centroid - pts[-1])
        fr = f(xr)
        if fr < vals[0]:
            xe = centroid + 2.0 * (centroid - pts[-1])
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (pts[-1] - centroid)
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                pts = [pts[0]] + [pts[0] + 0.5 * (p - pts[0]) for p in pts[1:]]
                vals = [vals[0]] + [f(p) for p in pts[1:]]
    i = int(np.argmin(vals))
    return pts[i], vals[i]


def log_residuals(pred, meas) -> np.ndarray:
    """Log ratios predicted / measured: symmetric in over- and under-prediction, scale-free."""
    return np.log(np.maximum(np.asarray(pred, float), 1e-15) / np.asarray(meas, float))


def levenberg_marquardt(r: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, iters: int = 60,
                        h: float = 1e-4) -> tuple[np.ndarray, float]:
    """Minimise ``sum(r(x)**2)`` from ``x0``: damped Gauss-Newton with a forward-difference Jacobian.

    Least-squares structure makes this converge in tens of iterations where Nelder-Mead needs
    hundreds, and it does not stall in the long valleys that coupled overheads and floors make."""
    x = np.asarray(x0, float)
    rx = r(x)
    cost, lam = float(rx @ rx), 1e-2
    for _ in range(iters):
        J = np.empty((len(rx), len(x)))
        for i in range(len(x)):
            xp = x.copy()
            xp[i] += h
            J[:, i] = (r(xp) - rx) / h
        g, A = J.T @ rx, J.T @ J
        while lam < 1e10:
            step = np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), -g)
            rn = r(x + step)
            cn = float(rn @ rn)
            if cn < cost:
                done = cost - cn < 1e-10 * (1.0 + cost)
                x, rx, cost, lam = x + step, rn, cn, max(lam / 3.0, 1e-9)
                break
            lam *= 4.0
        else:
            break
        if done:
            break
    return x, cost


def optimise(calib: Calibration, names: Sequence[str], residuals: Callable[[Calibration], np.ndarray],
             restarts: int = 6, seed: int = 0) -> Calibration:
    """Bounded least-log-squares fit of the factors ``names``, starting from ``calib``'s values.

    Each factor is searched in a logit space spanning its bounds (:data:`PARAMS`). From the current
    values, the middle of every range and ``restarts`` seeded random points (deterministic), Nelder-Mead
    finds the basin (it needs no gradient, so a floor or knee that is inactive at the start can still
    switch on) and Levenberg-Marquardt descends it; the best result is polished once more."""
    params = [PARAMS[n] for n in names]
    x0 = np.array([_to_unit(p, get_param(calib, p.name)) for p in params])

    def at(x) -> Calibration:
        return set_params(calib, {p.name: _from_unit(p, xi) for p, xi in zip(params, x, strict=True)})

    n_rows = len(residuals(calib))

    def res(x):
        try:
            return np.asarray(residuals(at(x)), float)
        except ValueError:  # a combination the Calibration validator rejects
            return np.full(n_rows, 30.0)

    rng = np.random.default_rng(seed)
    starts = [x0, np.zeros_like(x0)] + [rng.uniform(-2.5, 2.5, len(x0)) for _ in range(restarts)]
    best_x, best = x0, float(np.sum(res(x0) ** 2))
    def loss(x):
        return float(np.sum(res(x) ** 2))

    for s in starts:
        x, _ = nelder_mead(loss, s, iters=300)
        x, v = levenberg_marquardt(res, x)
        if v < best:
            best_x, best = x, v
    best_x, _ = nelder_mead(loss, best_x, step=0.2)
    return at(best_x)


# ---- readers -----------------------------------------------------------------------------------------

VIDUR_GEMM_OPS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")


def read_vidur_gemm(path: str | Path) -> pd.DataFrame:
    """Vidur ``mlp.csv`` -> one row per (GEMM op, tokens, TP): shapes M x K x N and the median time.

    Vidur profiles each operator with its tensor-parallel shard on one GPU, so the shapes follow from
    the profile's own model columns (``n_embd``, ``n_expanded_embd``, heads, gated MLP)."""
    d = pd.read_csv(path)
    rows = []
    for _, r in d.iterrows():
        h, f, nh, nkv, tp = int(r.n_embd), int(r.n_expanded_embd), int(r.n_head), int(r.n_kv_head), int(r.num_tensor_parallel_workers)
        hd = h // nh
        gated = bool(r.use_gated_mlp)
        shapes = {
            "attn_pre_proj": (h, (nh // tp + 2 * math.ceil(nkv / tp)) * hd),
            "attn_post_proj": (nh // tp * hd, h),
            "mlp_up_proj": (h, (2 if gated else 1) * f // tp),
            "mlp_down_proj": (f // tp, h),
        }
        for op, (k, n) in shapes.items():
            rows.append({"op": op, "tokens": int(r.num_tokens), "tp": tp, "M": int(r.num_tokens), "K": k, "N": n,
                         "measured_s": float(r[f"time_stats.{op}.median"]) * 1e-3})
    out = pd.DataFrame(rows).drop_duplicates(["op", "tokens", "tp"]).reset_index(drop=True)
    return out


def read_llmcompass_matmul(path: str | Path) -> pd.DataFrame:
    """LLMCompass ``M, N, K, 0.19ms, 101.7Tflops`` rows (A[M,K] x B[K,N], FP16)."""
    d = pd.read_csv(path, header=None, names=["M", "N", "K", "latency", "tflops"], skipinitialspace=True)
    lat = d["latency"].astype(str).str.strip().str.removesuffix("ms").astype(float) * 1e-3
    return pd.DataFrame({"op": "matmul", "M": d.M.astype(int), "K": d.K.astype(int), "N": d.N.astype(int),
                         "tokens": d.M.astype(int), "measured_s": lat})


def read_llmcompass_elementwise(path: str | Path, element_bytes: float = 2.0) -> pd.DataFrame:
    """LLMCompass element-wise sweeps: ``elements, G elements/s`` (GeLU) or ``M, N, G elements/s``
    (Softmax, LayerNorm over rows of N) -> one row per size with the measured seconds.

    The operator is named by the file (``gelu_A100.csv`` -> gelu). ``element_bytes``: 2 for FP16
    (LLMCompass's NVIDIA runs), 4 for FP32 (its MI210 runs of these operators)."""
    d = pd.read_csv(path, header=None, skipinitialspace=True)
    if d.shape[1] not in (2, 3):
        raise ValueError(f"{path}: expected 2 (elements, G/s) or 3 (M, N, G/s) columns, got {d.shape[1]}")
    M = d[0].astype(int)
    N = d[1].astype(int) if d.shape[1] == 3 else pd.Series(1, index=d.index)
    elements = (M * N).astype(float)
    return pd.DataFrame({"op": Path(path).stem.split("_")[0].lower(), "M": M, "N": N, "elements": elements,
                         "element_bytes": float(element_bytes),
                         "measured_s": elements / (d[d.shape[1] - 1].astype(float) * 1e9)})


def read_vidur_collective(path: str | Path) -> pd.DataFrame:
    """Vidur ``all_reduce.csv`` / ``send_recv.csv``: median ms per message ``size``.

    ``size`` is in **bytes** (vidur's collective wrapper records ``self._size * 2`` for its FP16
    buffer of ``_size`` elements, and its predictor divides by ``2 * embedding_dim`` to get tokens)."""
    d = pd.read_csv(path)
    col = [c for c in d.columns if c.startswith("time_stats.") and c.endswith(".median")][0]
    return pd.DataFrame({
        "collective": d["collective"], "workers": d["num_workers"].astype(int),
        "devices_per_node": d["devices_per_node"].astype(int), "bytes": d["size"].astype(float),
        "measured_s": d[col].astype(float) * 1e-3,
    })


def read_splitwise(path: str | Path, hardware: str | None = None, model: str | None = None) -> pd.DataFrame:
    """Splitwise ``perf_model.csv`` -> one row per measured configuration and phase (median of runs).

    prefill: ``prompt_time`` = one prefill iteration of ``batch`` prompts of ``prompt`` tokens each;
    decode: ``token_time`` = mean decode iteration over the generation, ``(e2e - prompt) / (tokens - 1)``,
    with ``batch`` sequences whose context grows from ``prompt`` to ``prompt + tokens``.
    The prefill of a (prompt, batch) pair does not depend on the output length, so its runs are
    pooled over ``token_size``."""
    d = pd.read_csv(path)
    if hardware:
        d = d[d.hardware == hardware]
    if model:
        d = d[d.model == model]
    keys = ["model", "hardware", "tensor_parallel", "prompt_size", "batch_size"]
    pre = d.groupby(keys, as_index=False).agg(measured_ms=("prompt_time", "median"), runs=("prompt_time", "size"),
                                              spread=("prompt_time", "std"))
    pre["token_size"] = 0
    pre["phase"] = "prefill"
    dec = d.groupby(keys + ["token_size"], as_index=False).agg(measured_ms=("token_time", "median"),
                                                               runs=("token_time", "size"), spread=("token_time", "std"))
    dec["phase"] = "decode"
    out = pd.concat([pre, dec], ignore_index=True)
    out = out.rename(columns={"tensor_parallel": "tp", "prompt_size": "prompt", "batch_size": "batch", "token_size": "tokens"})
    out["measured_s"] = out.measured_ms * 1e-3
    out["spread_pct"] = 100 * out.spread / out.measured_ms
    out["chip"] = out.hardware.map(SPLITWISE_HARDWARE)
    out["catalog_model"] = out.model.map(SPLITWISE_MODELS)
    out["excluded"] = ""
    # A run that could not hold the whole batch: its prefill time falls below half that of the previous
    # (half as large) batch, which no amount of extra work explains. Both phases of those runs go.
    pre = out[out.phase == "prefill"].set_index(["model", "hardware", "tp", "prompt", "batch"]).measured_s
    for (m, hw, tp, p, b), t in pre.items():
        prev = pre.get((m, hw, tp, p, b // 2))
        if b > 1 and prev is not None and t < 0.5 * prev:
            sel = (out.model == m) & (out.hardware == hw) & (out.tp == tp) & (out.prompt == p) & (out.batch == b)
            out.loc[sel, "excluded"] = (f"batch {b} prefill ({t * 1e3:.0f} ms) is under half of batch {b // 2} "
                                        f"({prev * 1e3:.0f} ms): the run did not hold the whole batch")
    return out.drop(columns=["spread", "measured_ms"]).reset_index(drop=True)


# ---- predictors (the simulator's physics) ------------------------------------------------------------


def predict_gemm(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame, precision: str = "bf16") -> np.ndarray:
    """Seconds for each M x K x N GEMM, one kernel, operands in ``precision``."""
    b = BYTES_PER_ELEMENT[precision]
    peak, bw = chip.peak_flops(precision), chip.hbm_bandwidth_bytes_per_s
    M, K, N = (cases[c].to_numpy(float) for c in ("M", "K", "N"))
    return gemm_time(peak, bw, calib, precision, M, K * N, K + N, b, b)[0]


def predict_collective(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame) -> np.ndarray:
    """Seconds per all-reduce (``bytes`` per chip over ``workers`` chips) or point-to-point send."""
    out = np.empty(len(cases))
    for (coll, workers, dpn), g in cases.groupby(["collective", "workers", "devices_per_node"], sort=False):
        pos = cases.index.get_indexer(g.index)
        if coll == "all_reduce":
            out[pos] = allreduce_time(chip, calib, int(workers), g.bytes.to_numpy(float))
        else:  # send_recv: both ranks in one node (devices_per_node > 1) use the inner tier, else the next
            out[pos] = send_time(chip, calib, g.bytes.to_numpy(float), 0 if dpn > 1 else 1)
    return out


def predict_elementwise(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame) -> np.ndarray:
    """Seconds for each element-wise kernel: every value read once and written once."""
    return elementwise_time(chip.hbm_bandwidth_bytes_per_s, calib, cases.elements.to_numpy(float), 2.0,
                            cases.element_bytes.to_numpy(float))


def step_model_for(chip: ChipSpec, model_name: str, calib: Calibration, tp: int, precision: str = "bf16",
                   max_tokens: int = 8192) -> StepModel:
    prec = Precisions(precision, precision, precision)
    return StepModel(chip, catalog.model(model_name), prec, Parallelism(tp), calib, max_tokens=max_tokens)


def predict_iteration(chip: ChipSpec, calib: Calibration, cases: pd.DataFrame, precision: str = "bf16") -> np.ndarray:
    """Seconds per Splitwise iteration: a prefill step of ``batch`` x ``prompt`` tokens, or the mean
    decode step of ``batch`` sequences over ``tokens`` generated tokens (context ``prompt + tokens/2``)."""
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


# ---- split rules: which rows are fitted and which are held out ---------------------------------------

GEMM_FIT_TP = (1, 4)
ALLREDUCE_FIT_WORKERS = (2, 8)
SPLITWISE_HELD_OUT_PROMPTS = (256, 1024, 4096)
SPLITWISE_HELD_OUT_BATCHES = (2, 8, 32)
SPLITWISE_HELD_OUT_TOKENS = (256, 1024, 4096)


def split_rows(kind: str, cases: pd.DataFrame) -> np.ndarray:
    """Deterministic fit / held-out labels (documented in docs/validation.md)."""
    if kind == "gemm":
        return np.where(cases.tp.isin(GEMM_FIT_TP), FIT, HELD_OUT)
    if kind in ("matmul", "elementwise"):  # alternate rows of each sweep
        return np.where(np.arange(len(cases)) % 2 == 0, FIT, HELD_OUT)
    if kind == "allreduce":
        return np.where(cases.workers.isin(ALLREDUCE_FIT_WORKERS), FIT, HELD_OUT)
    if kind == "iteration":
        held = (cases.prompt.isin(SPLITWISE_HELD_OUT_PROMPTS) | cases.batch.isin(SPLITWISE_HELD_OUT_BATCHES)
                | cases.tokens.isin(SPLITWISE_HELD_OUT_TOKENS))
        return np.where(held, HELD_OUT, FIT)
    raise ValueError(f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")


# ---- the fit -----------------------------------------------------------------------------------------


def read_cases(kind: str, csv_path: str | Path, hardware: str | None = None, model: str | None = None) -> pd.DataFrame:
    if kind == "gemm":
        return read_vidur_gemm(csv_path)
    if kind == "matmul":
        return read_llmcompass_matmul(csv_path)
    if kind == "allreduce":
        d = read_vidur_collective(csv_path)
        return d[d.collective == "all_reduce"].reset_index(drop=True)
    if kind == "elementwise":
        return read_llmcompass_elementwise(csv_path)
    if kind == "iteration":
        d = read_splitwise(csv_path, hardware, model)
        return d[d.excluded == ""].reset_index(drop=True)
    raise ValueError(f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")


def predict(kind: str, chip: ChipSpec, calib: Calibration, cases: pd.DataFrame, precision: str = "bf16") -> np.ndarray:
    if kind in ("gemm", "matmul"):
        return predict_gemm(chip, calib, cases, precision)
    if kind == "allreduce":
        return predict_collective(chip, calib, cases)
    if kind == "elementwise":
        return predict_elementwise(chip, calib, cases)
    return predict_iteration(chip, calib, cases, precision)


def report(cases: pd.DataFrame, predicted: np.ndarray) -> pd.DataFrame:
    out = cases.copy()
    out["predicted_s"] = predicted
    out["error_pct"] = 100.0 * (out.predicted_s - out.measured_s) / out.measured_s
    return out


def fit_calibration(chip: str | ChipSpec, kind: str, csv_path: str | Path, *, base: Calibration | None = None,
                    params: Sequence[str] | None = None, precision: str = "bf16", hardware: str | None = None,
                    model: str | None = None, fit_all: bool = False,
                    cases: pd.DataFrame | None = None) -> tuple[Calibration, pd.DataFrame]:
    """Fit ``chip``'s calibration to a CSV of measured times.

    Returns the fitted :class:`Calibration` (``base``, by default the chip's shipped calibration, with
    the fitted factors replaced) and a report with one row per measured case: ``measured_s``,
    ``predicted_s``, ``error_pct`` and ``split`` (``fit`` rows were used, ``held-out`` rows were
    not). ``fit_all`` fits on every row. ``cases`` may be given instead of reading ``csv_path``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
    chip_name = chip if isinstance(chip, str) else "custom"
    spec = catalog.chip(chip) if isinstance(chip, str) else chip
    base = base or (catalog.calibration(chip) if isinstance(chip, str) else Calibration(chip="custom"))
    if cases is None:
        cases = read_cases(kind, csv_path, hardware, model)
    cases = cases.reset_index(drop=True)
    if "split" not in cases:
        cases["split"] = FIT if fit_all else split_rows(kind, cases)
    names = [n.format(prec=precision) for n in (params or DEFAULT_PARAMS[kind])]
    for n in names:
        if n not in PARAMS:
            raise ValueError(f"cannot fit {n!r} (fittable: {', '.join(PARAMS)})")
    train = cases[cases.split == FIT]
    if train.empty:
        raise ValueError("no rows to fit on")
    meas = train.measured_s.to_numpy()
    fitted = optimise(base, names, lambda c: log_residuals(predict(kind, spec, c, train, precision), meas))
    where = "/".join(Path(csv_path).parts[-4:])
    src = f"fitted by maiasim.calibrate.fit ({kind}) to {where}: {len(train)} of {len(cases)} rows ({'all' if fit_all else 'fit split'})"
    sources = {k: v for k, v in base.sources.items() if k != "all"}
    fitted = fitted.model_copy(update={
        "chip": chip_name,
        "fitted_on": "; ".join(x for x in (base.fitted_on, f"{kind}: {where}") if x),
        "sources": {**sources, **{n.split(".")[0]: src for n in names}},
    })
    rep = report(cases, predict(kind, spec, fitted, cases, precision))
    return fitted, rep


def error_summary(rep: pd.DataFrame, by: Sequence[str] = ("split",)) -> pd.DataFrame:
    """Median and p90 absolute percentage error per group."""
    a = rep.assign(abs_err=rep.error_pct.abs())
    g = a.groupby(list(by), sort=False).abs_err
    return pd.DataFrame({"cases": g.size(), "median_abs_pct": g.median(), "p90_abs_pct": g.quantile(0.9),
                         "max_abs_pct": g.max()}).reset_index()


def calibration_yaml(calib: Calibration, header: str = "") -> str:
    data = calib.model_dump()
    data["ranges"] = {k: list(v) for k, v in data["ranges"].items()}
    text = yaml.safe_dump(data, sort_keys=False, width=120)
    head = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return head + text


# ---- command line: maiasim calibrate -----------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("chip", help="catalog chip name, e.g. h100")
    p.add_argument("kind", choices=KINDS, help="what the CSV measures")
    p.add_argument("csv", help="measured times (format per kind: see `maiasim.calibrate.fit` docs)")
    p.add_argument("-o", "--output", help="write the fitted calibration YAML here")
    p.add_argument("--base", help="calibration YAML to start from (default: the chip's shipped calibration)")
    p.add_argument("--params", help="comma-separated factors to fit (default per kind), e.g. hbm_fraction,gemm_latency_s")
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp8", "fp4"], help="operand precision of the measurements")
    p.add_argument("--hardware", help="iteration kind: Splitwise hardware name to keep, e.g. h100-80gb")
    p.add_argument("--model", help="iteration kind: Splitwise model name to keep, e.g. llama2-70b")
    p.add_argument("--all", action="store_true", help="fit on every row (default: fit on the documented split)")
    p.add_argument("--report", help="write the per-case report CSV here")


def command(args) -> int:
    from ..scenario.schema import ScenarioError

    try:
        catalog.chip(args.chip)
    except catalog.UnknownName as e:
        raise ScenarioError(str(e)) from None
    if not Path(args.csv).is_file():
        raise FileNotFoundError(f"no such file: {args.csv}")
    base = None
    if args.base:
        base = Calibration.model_validate(yaml.safe_load(Path(args.base).read_text(encoding="utf-8")))
    params = [s.strip() for s in args.params.split(",")] if args.params else None
    try:
        cal, rep = fit_calibration(args.chip, args.kind, args.csv, base=base, params=params, precision=args.precision,
                                   hardware=args.hardware, model=args.model, fit_all=args.all)
    except (ValueError, KeyError) as e:
        raise ScenarioError(f"calibrate: {e}") from None
    names = [n.format(prec=args.precision) for n in (params or DEFAULT_PARAMS[args.kind])]
    print(f"{args.chip}: fitted {', '.join(names)} to {len(rep)} rows of {args.csv}")
    for n in names:
        print(f"  {n} = {get_param(cal, n):.6g}")
    print(error_summary(rep).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    if args.output:
        Path(args.output).write_text(calibration_yaml(cal, f"maiasim calibrate {args.chip} {args.kind} {args.csv}"),
                                     encoding="utf-8")
        print(f"wrote {args.output}")
    if args.report:
        rep.to_csv(args.report, index=False)
        print(f"wrote {args.report}")
    return 0
