"""Fast-forward: the closed-form arithmetic of decode runs, and the event ordering that keeps
stepping and jumping in agreement to the last bit.

A *decode run* is a sequence of decode-only steps of one unchanged batch of ``n`` sequences. By
the :class:`~maiasim.physics.StepCostModel` contract, step ``m`` of the run (1-based) takes
``d1 + c * (m - 1)`` seconds, so its end is ``t0 + cum(m)`` with ``cum(m) = m d1 + c m (m-1) / 2``.
Both modes take every boundary of a run from this one formula, from the run's own start: a jump
over ``k`` steps lands on exactly the time that ``k`` single steps reach, and events of two
replicas that tie (or nearly tie) are ordered the same way whether a replica stepped or jumped.
"""

from __future__ import annotations

import math

import simpy


class StepEnd(simpy.Timeout):
    """The end of a step (or jump): a timeout ordered after every other event at the same instant,
    and among replicas by index, so that simultaneous step ends resolve the same way whether a
    replica stepped or jumped there (simpy would otherwise order ties by creation)."""

    def __init__(self, env: simpy.Environment, delay: float, priority: int):
        self.env, self.callbacks, self._value, self._delay, self._ok = env, [], None, delay, True
        env.schedule(self, priority, delay)


class Cause:
    """The step end being processed now (time, priority): what an arrival at that instant came
    from. Shared by a cluster's replicas; see :func:`steps_after_interrupt`."""

    __slots__ = ("time", "priority")

    def __init__(self):
        self.time, self.priority = -1.0, 0


class DecodeRun:
    """Decode-only steps of one unchanged batch of ``n`` sequences from ``t0``; ``m`` of them have
    run so far."""

    __slots__ = ("t0", "n", "d1", "c", "m")

    def __init__(self, t0: float, n: int, a: float, b: float, ctx0: int):
        self.t0, self.n, self.m = t0, n, 0
        self.d1, self.c = a + b * ctx0, b * n

    def end_of(self, m: int) -> float:
        """The time at which step ``m`` of the run ends."""
        return self.t0 + (m * self.d1 + self.c * m * (m - 1) / 2.0)

    def steps_by(self, t: float) -> int:
        """Steps of the run complete at time ``t``."""
        return steps_within(t - self.t0, self.d1, self.c)


class Jump:
    """A fast-forward in progress: ``steps`` steps of ``run`` after its first ``m0``."""

    __slots__ = ("run", "m0", "t0", "steps", "n", "kv0", "waiting", "interrupted")

    def __init__(self, run: DecodeRun, t0: float, steps: int, kv0: int, waiting: int):
        self.run, self.m0, self.t0, self.steps, self.n = run, run.m, t0, steps, run.n
        self.kv0, self.waiting = kv0, waiting
        self.interrupted = False  # an arrival cut it short: it ends with the step in flight

    def end_of(self, k: int) -> float:
        """The time at which the jump's step ``k`` ends."""
        return self.run.end_of(self.m0 + k)

    def steps_by(self, t: float) -> int:
        """The jump's steps complete at time ``t`` (never more than it holds)."""
        return max(0, min(self.run.steps_by(t) - self.m0, self.steps))


def steps_within(elapsed: float, d1: float, c: float) -> int:
    """Largest j with cum(j) <= elapsed, where cum(j) = j*d1 + c*j*(j-1)/2."""
    if elapsed <= 0:
        return 0
    A = c / 2.0
    B = d1 - A
    if A > 0:
        j = int((-B + math.sqrt(B * B + 4 * A * elapsed)) / (2 * A))
    else:
        j = int(elapsed / B)

    def cum(x):
        return x * d1 + c * x * (x - 1) / 2.0

    while j > 0 and cum(j) > elapsed:
        j -= 1
    while cum(j + 1) <= elapsed:
        j += 1
    return j


def steps_after_interrupt(j: Jump, now: float, cause: Cause, priority: int) -> int:
    """How many of jump ``j``'s steps run, now that a request that can join has arrived.

    The step in flight finishes. An arrival exactly at a step boundary joins there if, step by
    step, it would have been queued before the replica's step end (of ``priority``): when it came
    from an event of higher priority (an arrival, or a lower-index replica's step end). The
    boundary is matched within rounding: a few units in the last place, since both modes compute
    a step's end with the same closed form (a wider tolerance let an arrival a fraction of a
    microsecond after the boundary join one step early)."""
    steps = j.steps
    m = j.steps_by(now)
    tol = min(64.0 * math.ulp(max(now, 1.0)), 1e-3 * j.run.d1)
    if m < steps and j.end_of(m + 1) - now <= tol:
        m += 1  # at the end of step m + 1, within rounding
    if m > 0 and abs(now - j.end_of(m)) <= tol:
        if cause.time != now or cause.priority < priority:
            return m  # queued before this replica's step end at the boundary
    return m + 1 if m < steps else steps
