"""The iteration-time model: a per-operator roofline for one engine step of one replica.

One step runs a batch of prefill chunks and decode sequences through every layer on a tensor- and
pipeline-parallel group. Each operator costs ``max(flops / sustained_flops, bytes / sustained_bw)``;
collectives come from :mod:`maiasim.physics.network`; a fixed overhead is added per step. Pure
functions and precomputed tables only, no simulation state.

The engine's hot path needs the same numbers millions of times, so :class:`StepModel` tabulates the
token-count-dependent part once (numpy, vectorised over every possible token count) and leaves two
scalars for attention: seconds per decode context token, and a per-chunk prefill term. Because the
decode part is affine in the total context, a decode-only batch of fixed membership has a
closed-form step sequence, which is what makes exact fast-forward possible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..spec.calibration import Calibration
from ..spec.hardware import BYTES_PER_ELEMENT, ChipSpec
from ..spec.model import ModelSpec
from .kernels import elementwise_kernels, elementwise_time, gemm_time
from .network import allreduce_time, send_time
from .precision import Parallelism, Precisions


@dataclass(frozen=True)
class Breakdown:
    """Where one iteration's time goes (seconds), and the work it did (whole replica)."""

    total_s: float
    compute_s: float
    memory_s: float
    comm_s: float
    overhead_s: float
    flops: float
    hbm_bytes: float
    ops: dict[str, float] = field(default_factory=dict)


class StepModel:
    """Iteration times for one replica configuration, tabulated for the engine's hot path."""

    def __init__(
        self,
        chip: ChipSpec,
        model: ModelSpec,
        precision: Precisions,
        parallel: Parallelism,
        calib: Calibration,
        max_tokens: int = 8192,
    ):
        (self.chip, self.model, self.precision, self.parallel,
         self.calib) = chip, model, precision, parallel, calib
        tp = parallel.tensor
        self.peak_gemm = chip.peak_flops(precision.gemm)
        self.peak_attn = chip.peak_flops(precision.attention)
        self.bw = chip.hbm_bandwidth_bytes_per_s
        self.max_tokens = max_tokens
        m = model
        wb = BYTES_PER_ELEMENT[precision.weights]
        kvb = BYTES_PER_ELEMENT[precision.kv_cache]
        self._wb, self._ab = wb, BYTES_PER_ELEMENT[precision.activations]
        # attention per (query, context) pair per layer, per chip
        self._pair_flops = m.attention_flops_per_pair / tp
        self._kv_token_bytes = m.kv_elements_per_token_per_layer(tp) * kvb  # per layer per chip
        c = calib
        dec_per_token = max(
            self._pair_flops / (self.peak_attn * c.gemm_fraction(precision.attention)),
            self._kv_token_bytes / (self.bw * c.attention_decode_hbm_fraction),
        )
        #: seconds per decode context token (all full-attention layers)
        self.decode_s_per_ctx = m.full_attention_layers * dec_per_token
        #: seconds per decode sequence for sliding-window layers (window assumed full, see docs)
        self.decode_s_per_seq = m.sliding_window_layers * m.sliding_window * dec_per_token
        self.decode_flops_per_ctx = m.full_attention_layers * self._pair_flops * tp
        self.decode_bytes_per_ctx = m.full_attention_layers * self._kv_token_bytes * tp
        self.decode_flops_per_seq = (m.sliding_window_layers * m.sliding_window
                                     * self._pair_flops * tp)
        self.decode_bytes_per_seq = (m.sliding_window_layers * m.sliding_window
                                     * self._kv_token_bytes * tp)
        tokens = np.arange(max_tokens + 1, dtype=float)
        ops = self.token_ops(tokens)
        self.linear_s = sum(v[0] for v in ops.values())  # array over token count
        self.linear_flops = sum(v[1] for v in ops.values())
        self.linear_bytes = sum(v[2] for v in ops.values())
        self.lm_s, self.lm_flops, self.lm_bytes = self._lm_head(tokens)[:3]
        self.overhead_s = c.iteration_overhead_s
        #: serial host time per batch token (input preparation), on top of the fixed overhead
        self.token_overhead_s = c.per_token_overhead_s * tokens
        #: host kernel-launch time per step; GEMMs and collectives hide it, or it shows as a stall
        self.launch_floor_s = m.layers * c.layer_launch_s
        self.launch_stall_s = np.where(tokens > 0,
                                       np.maximum(self.launch_floor_s - self.linear_s, 0.0), 0.0)
        #: the same for iterations that carry prompt tokens (their host path can be longer)
        self.prefill_launch_floor_s = m.layers * c.prefill_launch_s
        self.prefill_launch_stall_s = np.where(
            tokens > 0, np.maximum(self.prefill_launch_floor_s - self.linear_s, 0.0), 0.0)
        # plain lists index faster than numpy scalars in the hot path
        self._lin = (self.linear_s + self.launch_stall_s + self.overhead_s
                     + self.token_overhead_s).tolist()
        self._lin_pre = (self.linear_s + self.prefill_launch_stall_s + self.overhead_s
                         + self.token_overhead_s).tolist()
        #: sampled rows: the LM head, plus the host's per-sequence cost (every sequence in the
        #: batch samples)
        self._lm = (self.lm_s + c.per_sequence_overhead_s * tokens).tolist()
        self._lin_fb = list(zip(self.linear_flops.tolist(), self.linear_bytes.tolist(),
                                strict=True))
        self._lm_fb = list(zip(self.lm_flops.tolist(), self.lm_bytes.tolist(), strict=True))

    # ---- operators (vectorised over token counts) ----------------------------------------------
    def _gemm(self, rows, params_per_chip, act_elems_per_row, eff_rows=None, kernels=1):
        """(time, flops per chip, bytes per chip, compute time, memory time) of a GEMM with ``rows``
        tokens; ``kernels`` GEMM launches each pay the calibration's ``gemm_latency_s``."""
        return gemm_time(self.peak_gemm, self.bw, self.calib, self.precision.gemm, rows,
                         params_per_chip, act_elems_per_row, self._wb, self._ab, eff_rows=eff_rows,
                         kernels=kernels)

    def token_ops(self, T) -> dict[str, tuple]:
        """Per-operator (time_s, flops, bytes) over all layers for T batch tokens, whole replica."""
        m, tp, pp = self.model, self.parallel.tensor, self.parallel.pipeline
        h = m.hidden_size
        out: dict[str, tuple] = {}

        def add(name, layers, res):
            t, f, b = res[0], res[1], res[2]
            out[name] = (layers * t, layers * f * tp, layers * b * tp, layers * res[3],
                         layers * res[4])

        L = m.layers
        if m.is_mla:
            add("attn_proj", L, self._gemm(T, m.attention_params_per_layer / tp, 2 * h / tp + h,
                                           kernels=4))
        else:
            kv_local = math.ceil(m.kv_heads / tp) * m.head_dim
            add("qkv_proj", L, self._gemm(T, h * (m.q_dim / tp + 2 * kv_local),
                                          h + m.q_dim / tp + 2 * kv_local))
            add("o_proj", L, self._gemm(T, m.q_dim / tp * h, m.q_dim / tp + h))
        dense = L - m.moe_layers
        if dense:
            add("mlp", dense, self._gemm(T, m.dense_mlp_params / tp,
                                         2 * h + m.mlp_matrices * m.ffn_size / tp, kernels=2))
        if m.is_moe:
            E, k = m.experts, m.active_experts
            touched = E * (1.0 - (1.0 - k / E) ** T)
            per_expert_rows = np.where(touched > 0, T * k / np.maximum(touched, 1e-9), 0.0)
            res = self._gemm(T, m.expert_params / tp * k,
                             2 * h * k + m.mlp_matrices * m.expert_ffn_size * k / tp,
                             per_expert_rows)
            # weights streamed: only the experts the batch touches
            wbytes = touched * m.expert_params / tp * self._wb
            tm = np.where(T > 0, (wbytes + T * (2 * h * k) * self._ab)
                          / (self.bw * self.calib.hbm_fraction), 0.0)
            # grouped gate/up and down kernels
            lat = np.where(T > 0, 2 * self.calib.gemm_latency_s, 0.0)
            res = (np.maximum(res[3], tm) + lat, res[1],
                   np.where(T > 0, wbytes + T * 2 * h * k * self._ab, 0.0), res[3], tm)
            add("moe_experts", m.moe_layers, res)
            add("moe_router", m.moe_layers, self._gemm(T, h * E, h + E))
            if m.shared_experts:
                add("moe_shared", m.moe_layers,
                    self._gemm(T, m.shared_experts * m.expert_params / tp, 2 * h, kernels=2))
        # norms, residual adds, activation function: pure memory traffic
        kernels = elementwise_kernels(m, tp)
        ew_bytes = T * self._ab * sum(e * p for _, e, p in kernels)
        ew_t = sum(elementwise_time(self.bw, self.calib, T * e, p, self._ab) for _, e, p in kernels)
        out["elementwise"] = (L * ew_t, 0.0 * T, L * ew_bytes * tp, 0.0 * T, L * ew_t)
        comm = np.zeros_like(T)
        if tp > 1:
            msg = T * h * self.precision.comm_bytes
            ar = allreduce_time(self.chip, self.calib, tp, msg) * self.calib.allreduce_knee(T)
            comm = comm + 2 * L * np.where(T > 0, ar, 0.0)
        if pp > 1:
            # stages sit on consecutive TP groups: the boundary crosses the innermost tier spanning
            # two groups
            hop = next((i for i, t in enumerate(self.chip.scale_up) if t.chips >= 2 * tp),
                       len(self.chip.scale_up) - 1)
            comm = comm + (pp - 1) * np.where(
                T > 0, send_time(self.chip, self.calib, T * h * self.precision.comm_bytes, hop),
                0.0)
        out["communication"] = (comm, 0.0 * T, 0.0 * T, 0.0 * T, 0.0 * T)
        return out

    def _lm_head(self, n_out):
        m, tp = self.model, self.parallel.tensor
        t, f, b, tc, tm = self._gemm(n_out, m.hidden_size * m.vocab_size / tp,
                                     m.hidden_size + m.vocab_size / tp)
        return t, f * tp, b * tp, tc, tm

    # ---- attention ---------------------------------------------------------------------------
    def prefill_attention(self, chunk: int, prior: int) -> tuple[float, float, float]:
        """(seconds, flops, bytes) of causal attention for ``chunk`` new tokens after ``prior``."""
        m, c, tp = self.model, self.calib, self.parallel.tensor
        pairs = chunk * prior + chunk * (chunk + 1) / 2.0
        kv_bytes = (prior + chunk) * self._kv_token_bytes
        peak = self.peak_attn * c.attention_prefill_fraction
        bw = self.bw * c.hbm_fraction
        t = m.full_attention_layers * max(pairs * self._pair_flops / peak, kv_bytes / bw)
        f = m.full_attention_layers * pairs * self._pair_flops * tp
        b = m.full_attention_layers * kv_bytes * tp
        if m.sliding_window_layers:
            w = m.sliding_window
            sw_pairs = chunk * min(float(w), prior + (chunk + 1) / 2.0)
            sw_bytes = min(prior + chunk, w + chunk) * self._kv_token_bytes
            t += m.sliding_window_layers * max(sw_pairs * self._pair_flops / peak, sw_bytes / bw)
            f += m.sliding_window_layers * sw_pairs * self._pair_flops * tp
            b += m.sliding_window_layers * sw_bytes * tp
        return t, f, b

    # ---- the engine's calls ------------------------------------------------------------------
    def step_time(self, tokens: int, n_out: int, n_decode: int, decode_ctx: float,
                  prefill_s: float = 0.0) -> float:
        """Seconds for a step of ``tokens`` batch tokens, ``n_out`` sampled rows, ``n_decode``
        decode sequences with total context ``decode_ctx``, plus precomputed prefill attention
        seconds. A step with more tokens than decode sequences carries prompt tokens (the prefill
        launch floor)."""
        return (
            (self._lin_pre[tokens] if tokens > n_decode else self._lin[tokens]) + self._lm[n_out]
            + self.decode_s_per_seq * n_decode + self.decode_s_per_ctx * decode_ctx + prefill_s
        )

    def step_times(self, tokens, n_out, n_decode, decode_ctx, prefill_s=0.0) -> np.ndarray:
        """:meth:`step_time` for arrays of steps, computed directly (any token count, no table).

        For the calibration fit and the validation report, which need a few steps of many sizes."""
        T = np.asarray(tokens, dtype=float)
        lin = sum(v[0] for v in self.token_ops(T).values())
        floor = np.where(T > np.asarray(n_decode, dtype=float), self.prefill_launch_floor_s,
                         self.launch_floor_s)
        stall = np.where(T > 0, np.maximum(floor - lin, 0.0), 0.0)
        lm = (self._lm_head(np.asarray(n_out, dtype=float))[0]
              + self.calib.per_sequence_overhead_s * np.asarray(n_out, dtype=float))
        return (lin + stall + self.overhead_s + self.calib.per_token_overhead_s * T + lm
                + self.decode_s_per_seq * np.asarray(n_decode, dtype=float)
                + self.decode_s_per_ctx * np.asarray(decode_ctx, dtype=float) + prefill_s)

    def decode_affine(self, n: int) -> tuple[float, float]:
        """(a, b): a decode-only step of ``n`` sequences takes ``a + b * total_context`` seconds."""
        return self._lin[n] + self._lm[n] + self.decode_s_per_seq * n, self.decode_s_per_ctx

    def step_work(self, tokens: int, n_out: int, n_decode: int,
                  decode_ctx: float) -> tuple[float, float]:
        """(flops, hbm bytes) of a step's linear and decode-attention parts (replica total)."""
        lf, lb = self._lin_fb[tokens]
        mf, mb = self._lm_fb[n_out]
        f = lf + mf + self.decode_flops_per_ctx * decode_ctx + self.decode_flops_per_seq * n_decode
        b = lb + mb + self.decode_bytes_per_ctx * decode_ctx + self.decode_bytes_per_seq * n_decode
        return float(f), float(b)

    # ---- explanation -------------------------------------------------------------------------
    def breakdown(self, prefill_chunks: list[tuple[int, int]] = (),
                  decode_contexts: list[int] = ()) -> Breakdown:
        """The full per-operator breakdown of one iteration, for users asking *why*.

        ``prefill_chunks`` are (new_tokens, prior_context) pairs; ``decode_contexts`` the context
        length of each decoding sequence. Agrees with :meth:`step_time` exactly."""
        n_dec = len(decode_contexts)
        T = int(sum(c for c, _ in prefill_chunks) + n_dec)
        if T > self.max_tokens:
            raise ValueError(f"batch of {T} tokens exceeds the tabulated maximum {self.max_tokens}")
        n_out = n_dec + len(prefill_chunks)
        ops = self.token_ops(np.array([float(T)]))
        times = {k: float(v[0][0]) for k, v in ops.items()}
        compute = sum(float(v[0][0]) for k, v in ops.items()
                      if k != "communication" and v[3][0] >= v[4][0])
        memory = sum(float(v[0][0]) for k, v in ops.items()
                     if k != "communication" and v[3][0] < v[4][0])
        _, _, _, lm_tc, lm_tm = self._lm_head(np.array([float(n_out)]))
        lm_s = float(self.lm_s[n_out])
        times["lm_head"] = lm_s
        if lm_tc[0] >= lm_tm[0]:
            compute += lm_s
        else:
            memory += lm_s
        ctx = float(sum(decode_contexts))
        dec = self.decode_s_per_ctx * ctx + self.decode_s_per_seq * n_dec
        times["decode_attention"] = dec
        memory += dec  # decode attention reads the KV cache: bandwidth-bound on every catalog chip
        pre_s = pre_f = pre_b = 0.0
        for c, p in prefill_chunks:
            s, f, b = self.prefill_attention(c, p)
            pre_s, pre_f, pre_b = pre_s + s, pre_f + f, pre_b + b
        times["prefill_attention"] = pre_s
        compute += pre_s
        comm = times["communication"]
        stall = self.prefill_launch_stall_s if T > n_dec else self.launch_stall_s
        overhead = (self.overhead_s + float(stall[T]) + float(self.token_overhead_s[T])
                    + self.calib.per_sequence_overhead_s * n_out)
        total = self.step_time(T, n_out, n_dec, ctx, pre_s)
        flops, nbytes = self.step_work(T, n_out, n_dec, ctx)
        return Breakdown(total, compute, memory, comm, overhead, flops + pre_f, nbytes + pre_b,
                         times)
