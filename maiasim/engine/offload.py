"""A replica's host tier for its KV cache (vLLM's CPU swap space): where a preempted decoding
sequence's KV waits, instead of being dropped and recomputed, and what moving it costs.

The replica stalls while a swap runs (vLLM v0 swaps blocks between iterations, on the critical
path); each chip moves its own shard over its own host link, so a swap of ``t`` tokens takes
``t x seconds_per_token`` of :class:`~maiasim.physics.transfer.OffloadPlan`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..physics.transfer import OffloadPlan
from .fastforward import StepEnd

if TYPE_CHECKING:  # (annotations only: the replica imports this module)
    from .replica import Replica


class HostTier:
    """Tokens of swapped KV held in host memory, up to the plan's capacity."""

    __slots__ = ("capacity", "per_token_s", "used", "swaps")

    def __init__(self, plan: OffloadPlan):
        self.capacity, self.per_token_s = plan.capacity_tokens, plan.seconds_per_token
        self.used = 0
        self.swaps = 0

    def swap_out(self, tokens: int) -> float | None:
        """Seconds to move ``tokens`` tokens of KV out, or None when the tier is full (the
        sequence is recomputed instead)."""
        if self.used + tokens > self.capacity:
            return None
        self.used += tokens
        self.swaps += 1
        return tokens * self.per_token_s

    def swap_in(self, tokens: int) -> float:
        """Seconds to bring a swapped sequence's ``tokens`` tokens back; frees their room."""
        self.used -= tokens
        return tokens * self.per_token_s


def swap_stall(r: Replica, running: int, waiting: int):
    """The replica's pending swaps (``r._stall`` seconds): it is busy and steps nothing; the
    decode run restarts after it (a simpy process body, run with ``yield from``)."""
    env, dt, start = r.env, r._stall, r.env.now
    r._stall, r._run, r._step_start = 0.0, None, start
    yield StepEnd(env, dt, r._priority)
    r._cause.time, r._cause.priority = env.now, r._priority
    r._totals[0] += dt
    r.last_end = env.now
    if r.rec.steps is not None:
        r.rec.steps.add((r.idx, start, env.now, 0, 0, r.kv_used, waiting, running))
