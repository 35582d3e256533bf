"""The iteration-time model: a per-operator roofline for one engine step of one replica.

One step runs a batch of prefill chunks and decode sequences through every layer on a tensor- and
pipeline-parallel group. Each operator costs ``max(flops / sustained_flops, bytes / sustained_bw)``;
collectives come from :mod:`maiasim.physics.network`; a fixed overhead is added per step. Pure
functions and precomputed tables only, no simulation state.

A MoE model may spread its experts over expert-parallel ranks: an all-to-all dispatch and combine
per MoE layer, the MoE part paced by the most loaded rank, and attention data-parallel when there
are more EP ranks than tensor-parallel chips.

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
from .network import allreduce_time, alltoall_time, send_time
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
        #: attention data-parallel groups: each decodes its share of the sequences (balanced)
        dp = parallel.attention_dp
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
        self.decode_s_per_ctx = m.full_attention_layers * dec_per_token / dp
        #: seconds per decode sequence for sliding-window layers (window assumed full, see docs)
        self.decode_s_per_seq = m.sliding_window_layers * m.sliding_window * dec_per_token / dp
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
        """Per-operator (time_s, flops, bytes) over all layers for T batch tokens, whole replica.

        Times are those of the busiest chip: with attention data-parallel groups each runs its
        share ``T / dp`` of the batch; with expert parallelism the most loaded EP rank sets the
        MoE time (see :meth:`_moe_ops`)."""
        m, tp, pp = self.model, self.parallel.tensor, self.parallel.pipeline
        g = self.parallel.stage_chips  # per-chip work x g = whole replica (g = tp without EP > tp)
        T = np.asarray(T, dtype=float)
        Ta = T / self.parallel.attention_dp  # rows per attention group (T itself when dp = 1)
        h = m.hidden_size
        out: dict[str, tuple] = {}

        def add(name, layers, res):
            t, f, b = res[0], res[1], res[2]
            out[name] = (layers * t, layers * f * g, layers * b * g, layers * res[3],
                         layers * res[4])

        L = m.layers
        if m.is_mla:
            add("attn_proj", L, self._gemm(Ta, m.attention_params_per_layer / tp, 2 * h / tp + h,
                                           kernels=4))
        else:
            kv_local = math.ceil(m.kv_heads / tp) * m.head_dim
            add("qkv_proj", L, self._gemm(Ta, h * (m.q_dim / tp + 2 * kv_local),
                                          h + m.q_dim / tp + 2 * kv_local))
            add("o_proj", L, self._gemm(Ta, m.q_dim / tp * h, m.q_dim / tp + h))
        dense = L - m.moe_layers
        if dense:
            add("mlp", dense, self._gemm(Ta, m.dense_mlp_params / tp,
                                         2 * h + m.mlp_matrices * m.ffn_size / tp, kernels=2))
        if m.is_moe:
            for name, res in self._moe_ops(T, Ta).items():
                add(name, m.moe_layers, res)
        # norms, residual adds, activation function: pure memory traffic
        kernels = elementwise_kernels(m, tp)
        ew_bytes = Ta * self._ab * sum(e * p for _, e, p in kernels)
        if m.is_moe and self.parallel.expert > 1:
            # the most loaded EP rank runs imbalance x the mean expert activations
            kernels = [(n, e * self.expert_imbalance if n == "activation" else e, p)
                       for n, e, p in kernels]
        ew_t = sum(elementwise_time(self.bw, self.calib, Ta * e, p, self._ab)
                   for _, e, p in kernels)
        out["elementwise"] = (L * ew_t, 0.0 * T, L * ew_bytes * g, 0.0 * T, L * ew_t)
        comm = np.zeros_like(T)
        if tp > 1:
            msg = Ta * h * self.precision.comm_bytes
            ar = allreduce_time(self.chip, self.calib, tp, msg) * self.calib.allreduce_knee(Ta)
            # with EP > 1 a MoE layer's all-reduce after the MLP becomes the all-to-all below
            ar_layers = 2 * L if self.parallel.expert == 1 else 2 * L - m.moe_layers
            comm = comm + ar_layers * np.where(T > 0, ar, 0.0)
        if pp > 1:
            # stages sit on consecutive groups: the boundary crosses the innermost tier spanning
            # two groups
            hop = next((i for i, t in enumerate(self.chip.scale_up) if t.chips >= 2 * g),
                       len(self.chip.scale_up) - 1)
            comm = comm + (pp - 1) * np.where(
                T > 0, send_time(self.chip, self.calib, Ta * h * self.precision.comm_bytes, hop),
                0.0)
        out["communication"] = (comm, 0.0 * T, 0.0 * T, 0.0 * T, 0.0 * T)
        if m.is_moe and self.parallel.expert > 1:
            out["moe_alltoall"] = (m.moe_layers * self._alltoall(T), 0.0 * T, 0.0 * T, 0.0 * T,
                                   0.0 * T)
        return out

    # ---- mixture of experts --------------------------------------------------------------------
    @property
    def expert_imbalance(self) -> float:
        """Load of the most loaded EP rank over the mean (1 = uniform; no effect at EP 1)."""
        return self.parallel.expert_imbalance if self.parallel.expert > 1 else 1.0

    def _moe_ops(self, T, Ta) -> dict[str, tuple]:
        """(time, flops, bytes, compute time, memory time) per chip and per MoE layer.

        Times are the most loaded EP rank's (``imbalance x`` the mean routed rows); FLOPs and
        bytes the mean rank's, so that the replica totals stay the work actually done. At
        ``expert = 1`` (every chip a tensor slice of every expert) this is the TP-only model."""
        m, par = self.model, self.parallel
        h, E = m.hidden_size, m.experts
        ep, te = par.expert, par.expert_tensor
        out = {"moe_experts": self._routed(T, ep, te, 1.0)}
        s = self.expert_imbalance
        if s != 1.0:
            hot = self._routed(T, ep, te, s)
            out["moe_experts"] = (hot[0], out["moe_experts"][1], out["moe_experts"][2], hot[3],
                                  hot[4])
        out["moe_router"] = self._gemm(Ta, h * E, h + E)
        if m.shared_experts:
            # shared experts run on the tokens each EP rank owns (all of them at EP 1)
            rows = T if ep == 1 else T / ep
            out["moe_shared"] = self._gemm(rows, m.shared_experts * m.expert_params / te, 2 * h,
                                           kernels=2)
        return out

    def _routed(self, T, ep: int, te: int, s: float) -> tuple:
        """Routed experts on an EP rank that receives ``s`` x the mean load: its ``E / ep``
        experts, each split over ``te`` chips, see ``s T k / ep`` token rows; only the experts
        those rows touch are streamed from HBM."""
        m = self.model
        h, E, k = m.hidden_size, m.experts, m.active_experts
        Tr = T if ep == 1 and s == 1.0 else s * T / ep  # tokens' worth of routed rows
        sT = T if s == 1.0 else s * T
        if ep == 1:
            touched = E * (1.0 - (1.0 - k / E) ** T)
        else:  # the hot rank sees as many routings as a batch s times larger would
            touched = E / ep * (1.0 - (1.0 - k / E) ** sT)
        per_expert_rows = np.where(touched > 0, Tr * k / np.maximum(touched, 1e-9), 0.0)
        res = self._gemm(Tr, m.expert_params / te * k,
                         2 * h * k + m.mlp_matrices * m.expert_ffn_size * k / te,
                         per_expert_rows)
        # weights streamed: only the experts the batch touches
        wbytes = touched * m.expert_params / te * self._wb
        tm = np.where(T > 0, (wbytes + Tr * (2 * h * k) * self._ab)
                      / (self.bw * self.calib.hbm_fraction), 0.0)
        # grouped gate/up and down kernels
        lat = np.where(T > 0, 2 * self.calib.gemm_latency_s, 0.0)
        return (np.maximum(res[3], tm) + lat, res[1],
                np.where(T > 0, wbytes + Tr * 2 * h * k * self._ab, 0.0), res[3], tm)

    def _alltoall(self, T):
        """Seconds of one MoE layer's dispatch plus combine all-to-all over the stage's chips.

        Each chip owns ``T / stage_chips`` tokens and sends each one's hidden state once to every
        EP rank its top-k experts live on (``r`` ranks on average, to all ``expert_tensor`` chips
        of each), so a chip sends ``T r h / ep`` elements; the combine returns as many. The most
        loaded rank receives ``imbalance x`` that, and the collective waits for it."""
        m, par = self.model, self.parallel
        msg = (self.expert_imbalance * T * self.ranks_per_token * m.hidden_size
               * self.precision.comm_bytes / par.expert)
        a2a = alltoall_time(self.chip, self.calib, par.stage_chips, msg)
        return 2.0 * np.where(T > 0, a2a, 0.0)

    @property
    def ranks_per_token(self) -> float:
        """Expected distinct EP ranks among a token's top-k experts (k distinct experts drawn
        uniformly from E, E / ep per rank): ``ep (1 - C(E - E/ep, k) / C(E, k))``."""
        m, ep = self.model, self.parallel.expert
        E, k = m.experts, m.active_experts
        miss = 1.0
        for j in range(k):
            miss *= max(0.0, (E - E / ep - j) / (E - j))
        return ep * (1.0 - miss)

    def _lm_head(self, n_out):
        m, tp, g = self.model, self.parallel.tensor, self.parallel.stage_chips
        rows = np.asarray(n_out, dtype=float) / self.parallel.attention_dp
        t, f, b, tc, tm = self._gemm(rows, m.hidden_size * m.vocab_size / tp,
                                     m.hidden_size + m.vocab_size / tp)
        return t, f * g, b * g, tc, tm

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
        # attention data-parallel groups prefill their own chunks side by side (balanced share)
        return t / self.parallel.attention_dp, f, b

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
        comm_ops = ("communication", "moe_alltoall")
        compute = sum(float(v[0][0]) for k, v in ops.items()
                      if k not in comm_ops and v[3][0] >= v[4][0])
        memory = sum(float(v[0][0]) for k, v in ops.items()
                     if k not in comm_ops and v[3][0] < v[4][0])
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
        comm = times["communication"] + times.get("moe_alltoall", 0.0)
        stall = self.prefill_launch_stall_s if T > n_dec else self.launch_stall_s
        overhead = (self.overhead_s + float(stall[T]) + float(self.token_overhead_s[T])
                    + self.calib.per_sequence_overhead_s * n_out)
        total = self.step_time(T, n_out, n_dec, ctx, pre_s)
        flops, nbytes = self.step_work(T, n_out, n_dec, ctx)
        return Breakdown(total, compute, memory, comm, overhead, flops + pre_f, nbytes + pre_b,
                         times)
