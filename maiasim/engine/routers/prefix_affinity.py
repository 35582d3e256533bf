"""Prefix affinity: requests that share a prompt prefix go to the same replica, so its prefix
cache keeps hitting (SGLang's cache-aware routing, reduced to an exact prefix identity).

A prefix group's first request goes to the least-loaded replica, which becomes its home; later
requests of the group follow it unless the load is badly imbalanced, then they go to the
least-loaded replica. The imbalance test is the SGLang model gateway's `cache_aware` fallback
with its defaults: home load - least load > 64 outstanding requests and home load > 1.5 x least
(lightseekorg/smg docs/getting-started/load-balancing.md). Requests without a prefix are routed
least-outstanding.
"""

from __future__ import annotations

import numpy as np

from .least_outstanding import LeastOutstanding

#: the SGLang model gateway's cache_aware defaults (--balance-abs-threshold, -rel-threshold)
BALANCE_ABS, BALANCE_REL = 64, 1.5


class PrefixAffinity(LeastOutstanding):
    """Least outstanding, with a home replica per prefix group."""

    def __init__(self, n: int, rng: np.random.Generator):
        super().__init__(n, rng)
        self.home: dict[int, int] = {}

    def pick_for(self, key: int) -> int:
        """The replica for a request of prefix group ``key``."""
        i = self.home.get(key)
        if i is None:
            i = self.home[key] = self.pick()
            return i
        while not self._buckets.get(self._min):
            self._min += 1
        load, least = self.outstanding[i], self._min
        if load - least > BALANCE_ABS and load > BALANCE_REL * least:
            return self.pick()
        self._move(i, +1)
        return i
