"""Schedulers: which sequences run in a replica's next iteration (the batch-formation seam).

A scheduler decides; the :class:`~maiasim.engine.replica.Replica` owns the state (queue, batch, KV
use) and offers the moves: :meth:`~Replica.admit_head`, :meth:`~Replica.drop_head`,
:meth:`~Replica.preempt_newest`. Adding a policy (e.g. TensorRT-LLM's guaranteed-no-evict) is one
new class here or in a new module, and one line in :data:`.schedulers.SCHEDULERS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # (annotations only: the replica imports this module)
    from .replica import Replica, Seq


class Scheduler(Protocol):
    """Forms each iteration's batch.

    **Contract** (fast-forward depends on it): :meth:`could_join` must say True whenever the next
    :meth:`schedule` could take the queue head off the queue (admit or drop it) given KV use
    ``kv_used``, and it must stay False as KV use grows. The engine only jumps over decode-only
    steps while the head cannot join, so a wrong False makes fast-forward disagree with stepping.
    """

    def schedule(self, r: Replica) -> tuple[list[tuple[Seq, int]], int]:
        """Admit, preempt or drop for the next step; return its prefill ``(sequence, tokens)``
        chunks and the number of decoding sequences it carries."""
        ...

    def could_join(self, r: Replica, s: Seq, kv_used: int) -> bool:
        """Would the queue head ``s`` leave the queue at the next step boundary?"""
        ...


class ContinuousBatching:
    """vLLM's continuous batching with a paged KV cache, preempting the newest sequence.

    With chunked prefill (vLLM v1), every decoding sequence gets one token and the rest of the
    ``max_batch_tokens`` budget goes to prompt chunks, first of sequences already prefilling, then
    of new ones from the queue head. Without it (vLLM v0), whole prompts run in prefill-only steps
    that take priority over decoding.

    An iteration that had to preempt admits nothing new (the memory it freed is for the sequences
    still running), and admission leaves room for the decoders' next token; without both, a
    preempted sequence is readmitted at once and preempted again, a livelock that recomputes
    prompts instead of producing tokens."""

    def __init__(self, max_batch_tokens: int, max_num_seqs: int, chunked_prefill: bool,
                 watermark: float = 0.0):
        self.max_tokens, self.max_seqs, self.chunked = (max_batch_tokens, max_num_seqs,
                                                        chunked_prefill)
        self.watermark = watermark  # fraction of the KV cache admission leaves free (vLLM v0)

    def schedule(self, r: Replica) -> tuple[list[tuple[Seq, int]], int]:
        """See :class:`Scheduler`."""
        n_dec = r.n_dec
        if not r.waiting and not r.prefilling and r.kv_used + n_dec <= r.cap:
            return _NOTHING, n_dec  # the common decode-only iteration: nothing to decide
        preempted = False
        while r.n_dec and r.kv_used + r.n_dec > r.cap:
            r.preempt_newest()
            preempted = True
        admit = not preempted or not r.running
        chunks: list = []
        if self.chunked:
            budget = self.max_tokens - r.n_dec
            for s in r.prefilling:
                if budget <= 0:
                    break
                c = min(s.target - s.done, budget)
                chunks.append((s, c))
                budget -= c
            while admit and budget > 0 and r.waiting and len(r.running) < self.max_seqs:
                s = self._admit(r, None)
                if s is None:
                    break
                if s.done == s.target:  # prefilled elsewhere (a KV hand-off): decodes now
                    budget -= 1
                    continue
                c = min(s.target - s.done, budget)  # (a prefix-cache hit starts at done > 0)
                chunks.append((s, c))
                budget -= c
            return chunks, r.n_dec
        budget = self.max_tokens
        while admit and r.waiting and len(r.running) < self.max_seqs:
            s = self._admit(r, budget)
            if s is None:
                break
            if s.done == s.target:  # prefilled elsewhere: decodes in the next decode step
                continue
            chunks.append((s, s.target - s.done))
            budget -= s.target - s.done
        if chunks:
            return chunks, 0
        return chunks, r.n_dec

    def _admit(self, r: Replica, budget: int | None) -> Seq | None:
        """Admit the queue head if its whole prompt fits beside the decoders' next tokens (and,
        for whole-prompt prefill, within ``budget`` tokens)."""
        while r.waiting:
            s = r.waiting[0]
            if s.done == s.target:  # prefilled elsewhere: KV for its context and next token
                if r.kv_used + r.n_dec + s.target + r.per_seq + 1 > r.cap:
                    return None
                return r.admit_head()
            if budget is not None and s.target > self.max_tokens:
                # a preempted sequence must recompute prompt + generated tokens in one unchunked
                # step, more than any step may hold: vLLM v0 ignores it; waiting would deadlock
                r.drop_head("recompute_exceeds_max_batch_tokens")
                continue
            if (budget is not None and s.target > budget) or not self.fits(r, s, r.kv_used):
                return None
            return r.admit_head()
        return None

    def fits(self, r: Replica, s: Seq, kv_used: int) -> bool:
        """Is there KV room to admit ``s`` at KV use ``kv_used``: its prompt beside the decoders'
        next tokens, with the watermark left free (an empty replica ignores the watermark: its
        head must be able to start, as the cluster has checked it fits the cache)."""
        wm = int(self.watermark * r.cap) if r.running else 0
        return kv_used + r.n_dec + s.target + r.per_seq <= r.cap - wm

    def could_join(self, r: Replica, s: Seq, kv_used: int) -> bool:
        """See :class:`Scheduler`."""
        if len(r.running) >= self.max_seqs or (self.chunked and r.n_dec >= self.max_tokens):
            return False
        if s.done == s.target:  # prefilled elsewhere
            return kv_used + r.n_dec + s.target + r.per_seq + 1 <= r.cap
        if not self.chunked and s.target > self.max_tokens:
            return True  # dropped: its recompute can never fit an unchunked step
        return self.fits(r, s, kv_used)


_NOTHING: list = []  # no prefill chunks (shared: callers only read it)
