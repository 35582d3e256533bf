"""Round robin: replicas in turn, regardless of load."""

from __future__ import annotations

import numpy as np


class RoundRobin:
    """Replica ``i``, then ``i + 1``, wrapping around."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.n, self._next = n, 0

    def pick(self) -> int:
        """The next replica in turn."""
        i = self._next
        self._next = (i + 1) % self.n
        return i

    def done(self, replica: int) -> None:
        """Load is not tracked."""

    def available(self, replica: int, up: bool) -> None:
        """Down replicas are skipped by the pool."""
