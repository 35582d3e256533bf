"""Kernel times: the roofline of a GEMM and of an element-wise kernel.

Each is the one formula that the step model, the calibration fit and the validation report
share.
"""

from __future__ import annotations

import numpy as np

from ..spec.calibration import Calibration
from ..spec.model import ModelSpec


def gemm_time(peak_flops, bw, calib: Calibration, precision: str, rows, params, act_elems_per_row,
              weight_bytes: float, act_bytes: float, eff_rows=None, kernels: int = 1):
    """Roofline time of a GEMM: ``rows`` tokens times a ``params``-element weight matrix.

    Returns (time, flops, bytes, compute time, memory time), vectorised over ``rows``. Compute runs
    at ``peak * plateau * m / (m + gemm_half_tokens)`` (small token counts are inefficient), memory
    at ``bw * hbm_fraction``; each of ``kernels`` launches adds ``gemm_latency_s``. This is the one
    formula both the simulator and the calibration fit (:mod:`maiasim.calibrate.fit`) use."""
    c = calib
    rows = np.asarray(rows, dtype=float)
    eff_rows = rows if eff_rows is None else eff_rows
    flops = 2.0 * rows * params
    nbytes = params * weight_bytes + rows * act_elems_per_row * act_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = c.gemm_fraction(precision) * eff_rows / (eff_rows + c.gemm_half_tokens)
        tc = np.where(rows > 0, flops / (peak_flops * np.maximum(eff, 1e-12)), 0.0)
    tm = np.where(rows > 0, nbytes / (bw * c.hbm_fraction), 0.0)
    t = np.maximum(tc, tm) + np.where(rows > 0, kernels * c.gemm_latency_s, 0.0)
    return t, flops, np.where(rows > 0, nbytes, 0.0), tc, tm


def elementwise_kernels(model: ModelSpec, tp: int) -> list[tuple[str, float, int]]:
    """A layer's element-wise kernels: (name, elements per token on one chip, HBM passes per
    element).

    Two norms and two residual adds on the full hidden state (replicated across the TP group), and
    the activation on this chip's share of the MLP (gated: reads gate and up, writes one)."""
    h = model.hidden_size
    act = (model.ffn_size if not model.is_moe
           else model.expert_ffn_size * model.active_experts) / tp
    return [("norm", h, 2), ("norm", h, 2), ("residual_add", h, 3), ("residual_add", h, 3),
            ("activation", act, 3 if model.gated_mlp else 2)]


def elementwise_time(bw: float, calib: Calibration, elements, passes: float, element_bytes: float):
    """Seconds of one element-wise kernel over ``elements`` values (scalar or array): its fixed
    latency plus ``passes`` reads and writes of each value at the element-wise HBM fraction.
    The one formula both the simulator and the calibration fit use."""
    E = np.asarray(elements, dtype=float)
    t = (calib.elementwise_latency_s
         + passes * E * element_bytes / (bw * calib.elementwise_hbm_fraction))
    return np.where(E > 0, t, 0.0)
