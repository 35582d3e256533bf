"""Least outstanding: the replica with the fewest requests routed to it and not yet ended."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

#: what a down replica's count is raised by (more requests than any replica ever holds)
PARKED = 1 << 40


class LeastOutstanding:
    """Replicas kept in buckets by outstanding count (ordered by insertion), so a pick is O(1);
    ties go to the replica that has held that count longest (at first the lowest index).

    The buckets are OrderedDicts: a plain dict whose first keys are deleted again and again makes
    ``next(iter(d))`` skip the deleted slots, O(replicas) per pick on a large idle fleet."""

    def __init__(self, n: int, rng: np.random.Generator):
        self.outstanding = [0] * n
        self._buckets: dict[int, OrderedDict[int, None]] = {0: OrderedDict.fromkeys(range(n))}
        self._min = 0

    def pick(self) -> int:
        """The least-loaded replica; it counts one more outstanding request."""
        while not self._buckets.get(self._min):
            self._min += 1
        i = next(iter(self._buckets[self._min]))
        self._move(i, +1)
        return i

    def done(self, replica: int) -> None:
        """One request fewer outstanding on ``replica``."""
        self._move(replica, -1)

    def available(self, replica: int, up: bool) -> None:
        """A down replica is parked far above every count, so it is never the least loaded."""
        self._move(replica, -PARKED if up else PARKED)

    def _move(self, i: int, delta: int) -> None:
        c = self.outstanding[i]
        self.outstanding[i] = c + delta
        b = self._buckets
        del b[c][i]
        b.setdefault(c + delta, OrderedDict())[i] = None
        if c + delta < self._min:
            self._min = c + delta
