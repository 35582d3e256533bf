"""Speculative decoding: the step costs and memory of a replica whose decode steps verify drafted
tokens.

Each decode iteration, a proposer drafts ``k`` tokens per sequence (``draft``: ``k`` decode steps of
a small draft model; ``mtp``: the target's multi-token-prediction module) and the target verifies
them in one forward pass over ``k + 1`` tokens per sequence. With each draft token accepted
independently with probability ``a``, an iteration emits on average
``E = (1 - a^(k+1)) / (1 - a)`` tokens per sequence (Leviathan, Kalman & Matias, "Fast Inference
from Transformers via Speculative Decoding", ICML 2023, eq. 1).

Deterministic accounting (what keeps fast-forward exact and every token counted): the engine still
advances decoding sequences one token per *decode step*, and a decode step costs ``1 / E`` of a
verification iteration (target verify + drafting). Each sequence thus emits exactly ``E`` tokens per
iteration's worth of time, the expectation, and a decode-only step stays affine in the total
context (``StepCostModel`` contract), so runs are closed-form as before. Steps that carry prompt
chunks run their decoders unspeculated (one token each), paying the draft's forward over the same
batch (its prompt KV must be built too).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..spec.hardware import BYTES_PER_ELEMENT
from ..spec.model import ModelSpec
from .memory import MemoryPlan
from .precision import Parallelism, Precisions
from .step import StepModel


class SpeculativeStep:
    """A :class:`~maiasim.physics.StepCostModel` for speculative decoding: ``target`` verifies,
    ``draft`` (a draft model's step model) or, when None, the target's MTP layer proposes.

    Anything else (``breakdown``, ``chip``, ...) is the target's, unspeculated."""

    def __init__(self, target: StepModel, k: int, acceptance: float,
                 draft: StepModel | None = None):
        self.target, self.draft, self.k, self.a = target, draft, k, acceptance
        #: expected tokens per sequence per verification iteration (Leviathan et al., eq. 1)
        self.tokens_per_step = (1.0 - acceptance ** (k + 1)) / (1.0 - acceptance)
        t = target
        #: the MTP module is one more decoder layer: a draft token costs 1/L of a target step
        self.mtp_share = 1.0 / t.model.layers
        # verification attention per context token: k + 1 queries read the same KV
        peak = t.peak_attn * t.calib.gemm_fraction(t.precision.attention)
        compute = t.decode_flops_per_ctx / t.parallel.tensor / peak / t.parallel.attention_dp
        self.verify_s_per_ctx = max(t.decode_s_per_ctx, (k + 1) * compute)
        self._ratio = self.verify_s_per_ctx / t.decode_s_per_ctx if t.decode_s_per_ctx else 1.0
        e = self.tokens_per_step
        if draft is not None:
            df, db = k * draft.decode_flops_per_ctx, k * draft.decode_bytes_per_ctx
        else:
            df = k * t.decode_flops_per_ctx * self.mtp_share
            db = k * t.decode_bytes_per_ctx * self.mtp_share
        self.decode_flops_per_ctx = ((k + 1) * t.decode_flops_per_ctx + df) / e
        self.decode_bytes_per_ctx = (t.decode_bytes_per_ctx + db) / e
        #: batches up to this many decode sequences fit the target's tables at k + 1 tokens each
        self.max_tokens = t.max_tokens // (k + 1)
        self._affine: dict[int, tuple[float, float]] = {}

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "target":  # (copying and unpickling look these up)
            raise AttributeError(name)
        return getattr(self.target, name)

    # ---- the StepCostModel contract ------------------------------------------------------------
    def decode_affine(self, n: int) -> tuple[float, float]:
        """One decode step (1/E of an iteration) of ``n`` sequences: ``a + b * context``."""
        got = self._affine.get(n)
        if got is None:
            t, k = self.target, self.k
            rows = n * (k + 1)
            # linear layers and LM head over k + 1 tokens per sequence (decode launch floor)
            lin = t.step_time(rows, rows, rows, 0.0) - t.decode_s_per_seq * rows
            a = lin + t.decode_s_per_seq * n * self._ratio
            b = self.verify_s_per_ctx
            if self.draft is not None:  # k autoregressive draft steps, context growing by n each
                ad, bd = self.draft.decode_affine(n)
                a += k * ad + bd * n * k * (k - 1) / 2.0
                b += k * bd
            else:
                at, bt = t.decode_affine(n)
                a += k * at * self.mtp_share
                b += k * bt * self.mtp_share
            e = self.tokens_per_step
            got = self._affine[n] = (a / e, b / e)
        return got

    def step_time(self, tokens: int, n_out: int, n_decode: int, decode_ctx: float,
                  prefill_s: float = 0.0) -> float:
        """A decode-only step from :meth:`decode_affine`; a step with prompt tokens is the
        target's plus the proposer's forward over the same batch."""
        if tokens == n_decode and n_decode:
            a, b = self.decode_affine(n_decode)
            return a + b * decode_ctx
        t = self.target.step_time(tokens, n_out, n_decode, decode_ctx, prefill_s)
        if self.draft is not None:
            return t + self.draft.step_time(tokens, n_out, n_decode, decode_ctx)
        return t * (1.0 + self.mtp_share)

    def prefill_attention(self, chunk: int, prior: int) -> tuple[float, float, float]:
        """The target's prompt attention plus the proposer's."""
        t, f, b = self.target.prefill_attention(chunk, prior)
        if self.draft is not None:
            dt, df, db = self.draft.prefill_attention(chunk, prior)
            return t + dt, f + df, b + db
        s = 1.0 + self.mtp_share
        return t * s, f * s, b * s

    def step_work(self, tokens: int, n_out: int, n_decode: int,
                  decode_ctx: float) -> tuple[float, float]:
        """(FLOPs, HBM bytes) of a step's linear and decode-attention parts, drafting included."""
        t, k, d = self.target, self.k, self.draft
        if tokens == n_decode and n_decode:
            rows = n_decode * (k + 1)
            f, b = t.step_work(rows, rows, 0, 0.0)
            f += rows * t.decode_flops_per_seq
            b += n_decode * t.decode_bytes_per_seq
            pf, pb = (d.step_work(n_decode, n_decode, n_decode, 0.0) if d is not None else
                      (x * self.mtp_share for x in t.step_work(n_decode, n_decode, n_decode, 0.0)))
            e = self.tokens_per_step
            return (f + k * pf) / e, (b + k * pb) / e
        f, b = t.step_work(tokens, n_out, n_decode, decode_ctx)
        if d is not None:
            df, db = d.step_work(tokens, n_out, n_decode, decode_ctx)
            return f + df, b + db
        return f * (1.0 + self.mtp_share), b * (1.0 + self.mtp_share)


def speculative_memory(plan: MemoryPlan, k: int, model: ModelSpec, draft: ModelSpec | None,
                       precision: Precisions, parallel: Parallelism) -> MemoryPlan:
    """The memory plan with the proposer's weights and KV taken from the KV cache, and ``k``
    draft-token slots reserved per sequence.

    The draft model is split like the target (same tensor and pipeline parallelism) and keeps a
    KV cache for the same tokens; the MTP module is one more decoder layer of the target (weights
    and KV of one layer). Returns ``plan`` with a smaller ``kv_capacity_tokens`` (0 when the
    proposer does not fit) and a larger ``per_sequence_tokens``."""
    tp, pp, dp = parallel.tensor, parallel.pipeline, parallel.attention_dp
    if draft is not None:
        weights = draft.params * BYTES_PER_ELEMENT[precision.weights] / (tp * pp)
        layers = max(math.ceil(draft.full_attention_layers / pp), 1)
        kv_token = (layers * draft.kv_elements_per_token_per_layer(tp)
                    * BYTES_PER_ELEMENT[precision.kv_cache])
    else:
        local_layers = max(math.ceil(model.layers / pp), 1)
        weights = plan.weights_bytes / local_layers
        kv_token = plan.kv_bytes_per_token / max(math.ceil(model.full_attention_layers / pp), 1)
    free = plan.kv_bytes - weights
    per_token = plan.kv_bytes_per_token + kv_token
    capacity = max(int(free // per_token), 0) * dp
    return replace(plan, weights_bytes=plan.weights_bytes + weights, kv_bytes=max(free, 0.0),
                   kv_bytes_per_token=per_token, kv_capacity_tokens=capacity,
                   per_sequence_tokens=plan.per_sequence_tokens + k)
