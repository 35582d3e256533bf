"""A replica's host tier for its KV cache (vLLM's CPU swap space): where a preempted decoding
sequence's KV waits, instead of being dropped and recomputed, and what moving it costs.

The replica stalls while a swap runs (vLLM v0 swaps blocks between iterations, on the critical
path); each chip moves its own shard over its own host link, so a swap of ``t`` tokens takes
``t x seconds_per_token`` of :class:`~maiasim.physics.transfer.OffloadPlan`.
"""

from __future__ import annotations

from ..physics.transfer import OffloadPlan


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
