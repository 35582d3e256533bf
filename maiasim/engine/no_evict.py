"""TensorRT-LLM's GUARANTEED_NO_EVICT capacity policy: admit a request only if the KV cache can hold
its whole prompt and output beside everything already admitted, so a started request is never
paused.

It trades peak batch size for freedom from preemption: near KV saturation it queues where vLLM
would admit and later recompute. Batch formation (chunked or whole prompts, the token budget) is
:class:`~.scheduler.ContinuousBatching`'s; only the admission test differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .scheduler import ContinuousBatching

if TYPE_CHECKING:  # (annotations only)
    from .replica import Replica, Seq


class GuaranteedNoEvict(ContinuousBatching):
    """Continuous batching that reserves each admitted request's final KV footprint
    (prompt + output + block slack) and admits only what fits beside the reservations."""

    def __init__(self, max_batch_tokens: int, max_num_seqs: int, chunked_prefill: bool,
                 watermark: float = 0.0):
        super().__init__(max_batch_tokens, max_num_seqs, chunked_prefill, watermark)
        #: per replica: {request id: reserved tokens} and their sum
        self._held: dict[int, dict[int, int]] = {}
        self._total: dict[int, int] = {}

    def _reserved(self, r: Replica) -> int:
        """Tokens reserved by the replica's running requests (finished ones released)."""
        held = self._held.setdefault(r.idx, {})
        if len(held) != len(r.running):
            running = r.running
            for rid in [rid for rid in held if rid not in running]:
                self._total[r.idx] -= held.pop(rid)
        return self._total.setdefault(r.idx, 0)

    def fits(self, r: Replica, s: Seq, kv_used: int) -> bool:
        """Room for ``s``'s whole prompt + remaining output beside every reservation."""
        need = s.prompt + s.output + r.per_seq
        return self._reserved(r) + need <= r.cap - (int(self.watermark * r.cap)
                                                     if r.running else 0)

    def _admit(self, r: Replica, budget: int | None) -> Seq | None:
        s = super()._admit(r, budget)
        if s is not None:
            self._held[r.idx][s.rid] = need = s.prompt + s.output + r.per_seq
            self._total[r.idx] += need
        return s

