"""Random: a uniform replica per request, from the router's own random stream."""

from __future__ import annotations

import numpy as np


class RandomChoice:
    """Uniform over replicas; draws are made 4,096 at a time (numpy per draw costs more)."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n, self.rng = n, rng
        self._draws: list[int] = []

    def pick(self) -> int:
        """A uniformly drawn replica."""
        if not self._draws:
            self._draws = self.rng.integers(0, self.n, size=4096).tolist()[::-1]
        return self._draws.pop()

    def done(self, replica: int) -> None:
        """Load is not tracked."""

    def available(self, replica: int, up: bool) -> None:
        """Down replicas are skipped by the pool (it draws again)."""
