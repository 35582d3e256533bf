"""Failures at run time: when components fail, what they take down, and what becomes of the
requests that were on it.

Each pool has one failure process. Its components (every chip's die, HBM and network link, and
every host, a tray of ``chips_per_node`` chips) fail as independent Poisson processes; their
superposition is drawn one failure at a time from the pool's own random stream
(``rng_for(seed, "failures", pool)``), so the draws never depend on what the engine does and a run
stays deterministic in both stepping modes. Replicas sit on consecutive chips (replica ``i`` on
chips ``i*c .. i*c+c-1``), so a host failure takes down every replica with a chip in that host. A
failure hitting a replica that is already down finds nothing running and changes nothing.

A replica that goes down stops as a run cut at that instant would (:meth:`Replica.fail`); its
sequences lose their KV cache and are routed to another replica of the pool that is up, to
recompute their prompt and the tokens generated so far, unless they already lost a replica
``max_retries`` times (dropped, ``failed_retries_exhausted``) or no replica of the pool is up
(dropped, ``no_replica_available``). A replica serves again after repair and model reload.
Failures happen during the horizon; planned drains at their own times.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import simpy

from ..errors import ScenarioError
from ..scenario import Scenario
from ..scenario.failures import COMPONENTS, FailuresConfig
from ..workload.streams import rng_for
from .fastforward import StepEnd
from .records import DROPPED, REASON
from .replica import FAILED, Replica
from .sequence import Seq

if TYPE_CHECKING:  # (annotations only: the cluster imports this module)
    from .cluster import _Sim
    from .fleet import Pool

#: component names of the failure log (``Result.failures``), by code
KINDS = (*COMPONENTS, "drain")


def check_failures(sc: Scenario) -> None:
    """Raise ScenarioError for a drain that names a pool or replica the fleet does not have."""
    f = sc.failures
    if f is None or not f.enabled:
        return
    names = {p.name: p.replicas for p in sc.pools}
    for i, d in enumerate(f.drains):
        where = f"failures.drains[{i}]"
        if d.pool is not None and d.pool not in names:
            raise ScenarioError(f"{where}.pool: no pool {d.pool!r} (pools: "
                                f"{', '.join(names)})")
        n = min(names.values()) if d.pool is None else names[d.pool]
        if d.replicas is not None and any(r >= n for r in d.replicas):
            raise ScenarioError(f"{where}.replicas: {sorted(d.replicas)} names a replica the pool "
                                f"does not have (it has {n}: 0 to {n - 1})")


class Failures:
    """The failure and drain processes of a fleet, the outages they cause, and the retries."""

    def __init__(self, sim: _Sim, cfg: FailuresConfig):
        check_failures(sim.sc)
        self.sim, self.cfg, self.env = sim, cfg, sim.env
        self.down = [0] * len(sim.replicas)  # outages in force per replica (failures, drains)
        self.since = [0.0] * len(sim.replicas)  # when the replica's current outage began
        self.events: list[tuple] = []  # (time, pool, replica, kind code, back up at)
        self.outages: list[tuple] = []  # (replica, down from, up at) of outages that ended
        retries = sim.rec.requests.retries
        self._retries = retries
        for pool in sim.pools:
            self.env.process(self._fail(pool))
        for d in cfg.drains:
            for pool in sim.pools:
                if d.pool is None or d.pool == pool.name:
                    n = pool.n
                    reps = d.replicas if d.replicas is not None else \
                        range(math.ceil(d.fraction * n - 1e-9))
                    idx = [pool.first + r for r in reps if r < n]
                    self.env.timeout(d.at_s).callbacks.append(
                        lambda _e, p=pool, i=idx, s=d.duration_s: self._take_down(p, i, 4, s))

    # ---- when and what fails ------------------------------------------------------------------
    def _fail(self, pool: Pool):
        """A pool's failures during the horizon, one draw at a time."""
        cfg, b = self.cfg, pool.build
        c = b.parallel.chips
        chips = pool.n * c
        per_node = b.chip.chips_per_node
        hosts = -(-chips // per_node)
        counts = (chips, chips, hosts, chips)  # chip, hbm, host, link
        rates = [cfg.rate(k) * n / 3600.0 for k, n in zip(COMPONENTS, counts,
                                                                     strict=True)]
        total = sum(rates)
        if total <= 0:
            return
        rng = rng_for(self.sim.sc.seed, "failures", pool.name)
        env, horizon, t = self.env, self.sim.horizon, 0.0
        while True:
            t += float(rng.exponential(1.0 / total))
            u = float(rng.random()) * total
            j = int(rng.integers(0, 1 << 62))
            if t >= horizon:
                return
            kind = 0
            while kind < 3 and u >= rates[kind]:
                u -= rates[kind]
                kind += 1
            if kind == 2:  # a host: every replica with a chip in it
                h = j % hosts
                lo, hi = h * per_node // c, min(pool.n, ((h + 1) * per_node - 1) // c + 1)
                idx = list(range(pool.first + lo, pool.first + hi))
            else:
                idx = [pool.first + (j % chips) // c]
            yield env.timeout(t - env.now)
            self._take_down(pool, idx, kind, cfg.component(COMPONENTS[kind]).down_s)

    def _take_down(self, pool: Pool, idx: list[int], kind: int, down_s: float) -> None:
        """Replicas ``idx`` go down now for ``down_s``; a failure skips replicas already down
        (nothing of theirs is running), a drain extends their outage."""
        now, reps = self.env.now, self.sim.replicas
        if kind != 4:
            idx = [i for i in idx if not self.down[i]]
        hit: list[Replica] = []
        for i in idx:
            self.events.append((now, pool.idx, i, kind, now + down_s))
            self.down[i] += 1
            if self.down[i] == 1:
                self.since[i] = now
                pool.set_up(i - pool.first, False)
                hit.append(reps[i])
            self.env.timeout(down_s).callbacks.append(lambda _e, r=reps[i], p=pool: self._up(p, r))
        for rep in hit:  # every replica is down before any request looks for another
            for s, queued in stop(rep):
                self.lost(pool, rep, s, queued)

    def _up(self, pool: Pool, rep: Replica) -> None:
        i = rep.idx
        self.down[i] -= 1
        if not self.down[i]:
            self.outages.append((i, self.since[i], self.env.now))
            rep.proc = self.env.process(rep.run())  # repaired and reloaded: serves again
            pool.set_up(i - pool.first, True)

    # ---- the requests of a replica that went down ---------------------------------------------
    def lost(self, pool: Pool, rep: Replica, s: Seq, queued: bool) -> None:
        """``s`` was on ``rep`` (in its batch, or ``queued``) when it went down: retry it on
        another replica of the pool, recomputing its prompt and generated tokens, or drop it."""
        had_kv = not queued or s.done > 0
        rid = s.rid
        if had_kv:
            self._retries[rid] += 1
        reason = ""
        if had_kv and self._retries[rid] > self.cfg.max_retries:
            reason = "failed_retries_exhausted"
        elif not pool.n_up:
            reason = "no_replica_available"
        if reason:
            if queued and s.order == 0 and rep._qlog is not None:
                rep._qlog((self.env.now, -1.0))  # its first wait ends here, never admitted
            s.handoff = False  # (dropped: nothing to hand to a decode pool)
            rep._end(s, DROPPED, reason)
            return
        pool.done(rep)
        new = Seq(rid, s.prompt, s.output, s.arrival, s.on_done, s.priority)
        new.generated, new.first_token, new.handoff = s.generated, s.first_token, s.handoff
        new.target = s.prompt + s.generated
        new.order = s.order
        dst = pool.route()
        self.sim.rec.requests.replica[rid] = dst.idx
        dst.enqueue(new)
        if new.order > 0 and dst._qlog is not None:
            dst._qlog((self.env.now, 1.0))  # queued again (enqueue logs only hand-offs)

    def drop_detached(self, rid: int, generated: int, on_done) -> None:
        """A request between pools (its KV cache in transit) whose destination is down with no
        other replica up: dropped, ``no_replica_available``."""
        r = self.sim.rec.requests
        r.status[rid], r.reason[rid] = DROPPED, REASON["no_replica_available"]
        r.generated[rid] = generated
        if on_done is not None:
            on_done()

    # ---- at the end ---------------------------------------------------------------------------
    def close(self, end: float) -> tuple[list[tuple], list[tuple]]:
        """(failure events, outages) of the run, outages still in force cut at ``end``."""
        out = list(self.outages)
        out += [(i, self.since[i], end) for i, d in enumerate(self.down) if d]
        return [e for e in self.events if e[0] <= end], out


# ---- a replica going down ---------------------------------------------------------------------


def stop(rep: Replica) -> list[tuple[Seq, bool]]:
    """Take ``rep`` down now, as a run cut here stops: the steps that ended count (a jump is
    settled up to now), the one in flight adds busy time only, and the serving loop ends. Returns
    every sequence that was on it, ``(sequence, was queued)``, with its generated tokens counted
    and its KV cache gone; the replica is left empty."""
    now, proc = rep.env.now, rep.proc
    in_step = isinstance(proc.target, StepEnd)
    if rep.settle_cut(now):
        rep._complete_due()
    if in_step and rep.running:
        rep._totals[0] += max(0.0, now - rep._step_start)
    out: list[tuple[Seq, bool]] = []
    for s in rep.running.values():
        if s.finish_step >= 0:
            s.generated = s.output - (s.finish_step - rep.k)
            s.finish_step = -1
        out.append((s, False))
    for s in rep.waiting:
        s.queued = False
        if s.order != 0 and rep._qlog is not None:
            rep._qlog((now, -1.0))  # a re-queue's wait ends (a first wait's: in Failures.lost)
        out.append((s, True))
    rep.running, rep.waiting, rep.prefilling, rep.heap = {}, deque(), [], []
    rep.n_dec = rep.ctx_sum = rep.kv_used = rep.backlog = 0
    rep._run = rep._idle = None
    if proc.is_alive:
        proc.callbacks.append(_defuse_failure)
        proc.interrupt(FAILED)
    return out


def _defuse_failure(proc: simpy.Process) -> None:
    """A stopped serving loop ends by an interrupt: :data:`FAILED`, or an arrival's that was
    already on its way to a jump (not an error; any other exception still is)."""
    if not proc.ok and isinstance(proc.value, simpy.Interrupt):
        proc.defused = True
