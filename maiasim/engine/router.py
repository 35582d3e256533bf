"""Request routing across replicas: round robin, least outstanding, random. O(1) per request."""

from __future__ import annotations

import numpy as np


class Router:
    def __init__(self, policy: str, n: int, rng: np.random.Generator):
        self.policy, self.n, self.rng = policy, n, rng
        self.outstanding = [0] * n
        self._next = 0
        # least_outstanding: replicas bucketed by outstanding count (dicts keep a stable order)
        self._buckets: dict[int, dict[int, None]] = {0: dict.fromkeys(range(n))}
        self._min = 0
        self._random: list[int] = []

    def pick(self) -> int:
        p = self.policy
        if p == "least_outstanding":
            while not self._buckets.get(self._min):
                self._min += 1
            i = next(iter(self._buckets[self._min]))
        elif p == "round_robin":
            i = self._next
            self._next = (i + 1) % self.n
        else:
            if not self._random:
                self._random = self.rng.integers(0, self.n, size=4096).tolist()[::-1]
            i = self._random.pop()
        self._move(i, +1)
        return i

    def done(self, i: int) -> None:
        self._move(i, -1)

    def _move(self, i: int, delta: int) -> None:
        c = self.outstanding[i]
        self.outstanding[i] = c + delta
        if self.policy != "least_outstanding":
            return
        b = self._buckets
        del b[c][i]
        b.setdefault(c + delta, {})[i] = None
        if c + delta < self._min:
            self._min = c + delta
