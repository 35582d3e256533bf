"""Build the simulated cluster from a scenario, run it, and hand back the records."""

from __future__ import annotations

import numpy as np
import simpy

from ..build import Fleet
from ..workload.streams import Stream, rng_for, streams
from .failures import Failures
from .fastforward import Cause
from .fleet import FleetRouter, Links, Pool
from .offload import HostTier
from .prefix_cache import PrefixCache, prefix_key
from .records import COMPLETED, IN_FLIGHT, REASON, REJECTED, Records
from .replica import Replica
from .routers import make_router
from .schedulers import make_scheduler
from .sequence import Seq
from .sessions import Conversations


class _ClosedLoop:
    """``concurrency`` clients, each sending its next request when the previous one ends.

    A request rejected on arrival ends at once; the client's next one is sent in a loop, not from
    the rejection's callback, so thousands of rejections never nest."""

    def __init__(self, sim: _Sim, st: Stream):
        self.sim, self.st, self.next = sim, st, 0

    def start(self) -> None:
        for _ in range(min(self.st.concurrency, len(self.st.prompt))):
            self.issue()

    def issue(self, _event=None) -> None:
        sim, st = self.sim, self.st
        while self.next < len(st.prompt) and sim.env.now < sim.horizon:
            i = self.next
            self.next += 1
            w = st.workload
            key = -1 if st.group is None else prefix_key(w, int(st.group[i]))
            if sim.submit(w, int(st.prompt[i]), int(st.output[i]), self.done, key,
                          sim.wl_prefix[w]):
                return
            if st.think_time_s > 0:  # rejected: think, then try the next request
                sim.env.timeout(st.think_time_s).callbacks.append(self.issue)
                return

    def done(self) -> None:
        if self.st.think_time_s > 0:
            self.sim.env.timeout(self.st.think_time_s).callbacks.append(self.issue)
        else:
            self.issue()


class _Sim:
    def __init__(self, f: Fleet, record_steps: bool):
        sc = f.scenario
        self.sc, self.fleet = sc, f
        self.streams = streams(sc)
        self.horizon = sc.horizon_s
        n = sum(len(s.prompt) for s in self.streams)
        self.rec = Records(n, sc.replicas, record_steps)
        self.env = simpy.Environment()
        cause = Cause()  # which step end is being processed: orders ties the same in both modes
        self.replicas: list[Replica] = []
        self.pools: list[Pool] = []
        shared = any(w.prefix or w.session for w in sc.workload)  # else no cache to keep
        for k, (b, first) in enumerate(zip(f.pools, f.first, strict=True)):
            p, s, sv = b.pool, b.pool.deployment.scheduler, b.serving
            sched = make_scheduler(sv.policy, s.max_batch_tokens, s.max_num_seqs,
                                   sv.chunked_prefill, sv.watermark)
            reps = [Replica(self.env, first + i, b.step, b.memory, sched, self.rec,
                            self._finished, sc.engine.fast_forward, s.queue_timeout_s, cause,
                            PrefixCache(s.block_tokens) if b.serving.prefix_caching and shared
                            else None)
                    for i in range(p.replicas)]
            if b.offload is not None:
                for r in reps:
                    r.host = HostTier(b.offload)
            # a fleet of one pool draws its router stream as a single-pool scenario always has
            stream = "router" if len(f.pools) == 1 else f"router/{p.name}"
            router = make_router(p.router.policy, p.replicas, rng_for(sc.seed, stream))
            pool = Pool(k, b, reps, router, first)
            for r in reps:
                r.pool = pool  # (the completion callback's look-up, without an array index)
            self.pools.append(pool)
            self.replicas += reps
            self.rec.pool_of_replica[first:first + p.replicas] = k
        fl = sc.fleet
        self.router = FleetRouter(fl.router, fl.spill_over_per_replica, fl.admission) if fl \
            else FleetRouter("least_load", 1.0, "none")
        if fl is not None and any(p.role == "prefill" for p in self.pools):
            kt = fl.kv_transfer
            self.links = Links(self.pools, kt.path, kt.scale_out_bandwidth_bytes_per_s,
                               kt.scale_out_latency_s)
        self.in_transfer: set[int] = set()
        # per workload: the pools that take its arrivals, and those that decode its hand-offs
        self.entry, self.decode, self.wl_priority, self.wl_ttft = [], [], [], []
        self.wl_prefix = [w.prefix.tokens if w.prefix else 0 for w in sc.workload]
        for w in sc.workload:
            model = w.model or self.pools[0].model
            serves = [p for p in self.pools if p.model == model and (
                not p.build.pool.slo_classes or w.slo_class in p.build.pool.slo_classes)]
            self.entry.append([p for p in serves if p.role != "decode"])
            self.decode.append([p for p in serves if p.role == "decode"])
            self.wl_priority.append(w.priority)
            self.wl_ttft.append(w.slo.ttft_p99_s)
        self.next_id = 0
        f_cfg = sc.failures
        self.failures = Failures(self, f_cfg) if f_cfg is not None and f_cfg.enabled else None

    def submit(self, wl: int, prompt: int, output: int, on_done=None, key: int = -1,
               shared: int = 0) -> bool:
        """Reject the request or route it; True when it was routed (``on_done`` fires later).
        ``key``: the prefix-cache key of the ``shared`` tokens its prompt starts with (-1: none;
        :func:`.prefix_cache.prefix_key`, :func:`.prefix_cache.session_key`)."""
        rid = self.next_id
        self.next_id += 1
        r = self.rec.requests
        r.n = self.next_id
        now = self.env.now
        r.workload[rid], r.arrival_s[rid], r.prompt[rid], r.output[rid] = wl, now, prompt, output
        entry = self.entry[wl]
        if len(entry) == 1 and entry[0].role == "mixed" and self.router.admission == "none":
            pool = entry[0]  # the common case: no fleet choice to make
            reason = pool.reject_reason(prompt, output)
        else:
            pool, reason = self._choose(wl, prompt, output)
        if reason:
            r.status[rid], r.reason[rid] = REJECTED, REASON[reason]
            r.pool[rid] = (pool or entry[0]).idx
            return False
        rep = pool.route(key)
        r.replica[rid], r.pool[rid] = rep.idx, pool.idx
        seq = Seq(rid, prompt, output, now, on_done, self.wl_priority[wl])
        seq.prefix, seq.prefix_tokens = key, shared
        seq.handoff = pool.role == "prefill" and output > 1  # one token: done at prefill
        rep.enqueue(seq)
        return True

    def _choose(self, wl: int, prompt: int, output: int) -> tuple[Pool | None, str]:
        """(the pool the fleet router picks, '') or (the pool meant, why it was refused)."""
        reason, fits = "", []
        for p in self.entry[wl]:
            why = p.reject_reason(prompt, output)
            if not why and p.role == "prefill" and output > 1:
                why = self._decode_reason(wl, prompt, output)
            if why:
                reason = reason or why
            else:
                fits.append(p)
        if not fits:
            return None, reason
        pool = self.router.pick(fits, prompt, self.wl_ttft[wl])
        return (pool, "") if pool is not None else (fits[0], "slo_admission")

    def _decode_reason(self, wl: int, prompt: int, output: int) -> str:
        """Why no decode pool could take the request after its prefill ('' when one can)."""
        reasons = [p.reject_reason(prompt, output) for p in self.decode[wl]]
        return "" if "" in reasons else reasons[0]

    def _finished(self, replica: Replica, s: Seq) -> None:
        pool = replica.pool
        pool.done(replica)
        if s.handoff and self.rec.requests.status[s.rid] == IN_FLIGHT:  # prefilled, not dropped
            self._hand_off(pool, replica, s)
        elif s.on_done is not None:
            delay = pool.fe_request + pool.fe_token * s.generated  # the client sees it then
            if delay > 0:
                self.env.timeout(delay).callbacks.append(lambda _e: s.on_done())
            else:
                s.on_done()

    def _hand_off(self, src: Pool, replica: Replica, s: Seq) -> None:
        """A prefill pool's sequence produced its first token: send its KV cache to a decode
        replica (over links it may have to wait for), which then queues it as prefilled."""
        r, now = self.rec.requests, self.env.now
        wl = int(r.workload[s.rid])
        fits = [p for p in self.decode[wl] if not p.reject_reason(s.prompt, s.output)]
        dst = self.router.pick(fits, s.prompt, None) if fits else None
        if dst is None:  # (only with failures on: every decode replica is down)
            self.failures.drop_detached(s.rid, s.generated, s.on_done)
            return
        rep = dst.route()
        _, end = self.links.reserve(now, src, replica.idx, dst, rep.idx, s.prompt)
        r.prefill_replica[s.rid], r.replica[s.rid], r.pool[s.rid] = replica.idx, rep.idx, dst.idx
        r.kv_transfer_s[s.rid] = end - now
        seq = Seq(s.rid, s.prompt, s.output, s.arrival, s.on_done, s.priority)
        seq.prefilled(s.first_token)
        self.in_transfer.add(s.rid)

        def arrive(_e, rid=s.rid):
            self.in_transfer.discard(rid)
            if not dst.up[rep.idx - dst.first]:  # it went down: the KV cache arrived nowhere
                self.failures.lost(dst, rep, seq, True)
                return
            rep.enqueue(seq)

        self.env.timeout(end - now).callbacks.append(arrive)

    def _open_loop(self, times: list, wls: list, prompts: list, outputs: list, groups: list):
        env, submit = self.env, self.submit
        for t, w, p, o, g in zip(times, wls, prompts, outputs, groups, strict=True):
            if t > env.now:
                yield env.timeout(t - env.now)
            submit(w, p, o, None, -1 if g < 0 else prefix_key(w, g), self.wl_prefix[w])

    def run(self, progress: bool = False) -> Records:
        """Start the arrivals and closed-loop clients, run to the horizon (or drain), finish."""
        env, sc = self.env, self.sc
        open_streams = [s for s in self.streams if s.times is not None]
        if open_streams:
            times = np.concatenate([s.times for s in open_streams])
            order = np.argsort(times, kind="stable")
            cols = [np.concatenate([np.full(len(s.times), s.workload)
                                    for s in open_streams])[order],
                    np.concatenate([s.prompt for s in open_streams])[order],
                    np.concatenate([s.output for s in open_streams])[order],
                    np.concatenate([np.full(len(s.times), -1) if s.group is None else s.group
                                    for s in open_streams])[order]]
            env.process(self._open_loop(times[order].tolist(), *(c.tolist() for c in cols)))
        for s in self.streams:
            if s.times is None:
                session = sc.workload[s.workload].session
                (Conversations(self, s, session.turns) if session else _ClosedLoop(self, s)).start()
        e = sc.engine
        end = None if e.drain else sc.horizon_s
        if e.drain and e.max_drain_s is not None:
            end = sc.horizon_s + e.max_drain_s
        if progress:
            _run_with_progress(env, sc.horizon_s, end)
        else:
            env.run(until=end)
        return self._finish()

    def _finish(self) -> Records:
        rec, now = self.rec, self.env.now
        empty = not self.in_transfer and not any(r.running or r.waiting for r in self.replicas)
        if self.sc.engine.drain and (self.sc.engine.max_drain_s is None or empty):
            # drained (before any max_drain_s): the run ends with the last step or arrival (an
            # interrupted jump leaves a stale timeout behind that must not stretch the duration)
            last_arrival = (float(np.nanmax(rec.requests.arrival_s[: rec.requests.n]))
                            if rec.requests.n else 0.0)
            now = max([last_arrival] + [r.last_end for r in self.replicas])
        rec.end_s = now
        if self.failures is not None:
            rec.failures = self.failures.close(now)
        for rep in self.replicas:
            rep.finalize(now)
        for rid in self.in_transfer:
            rec.requests.reason[rid] = REASON["kv_transfer_at_end"]
            rec.requests.generated[rid] = 1
        rec.requests.trim()
        r = rec.requests
        fe_req = np.array([p.fe_request for p in self.pools])[r.pool]
        fe_tok = np.array([p.fe_token for p in self.pools])[r.pool]
        if fe_req.any() or fe_tok.any():
            # the front end (HTTP, tokeniser, detokeniser) runs beside the engine: it delays what
            # the client sees (the pool it finished in), not the engine's iterations
            r.first_token_s += fe_req + fe_tok
            done = r.status == COMPLETED
            r.finish_s[done] += fe_req[done] + fe_tok[done] * r.output[done]
        completed = r.status == COMPLETED
        assert np.all(r.generated[completed] == r.output[completed]), "token conservation violated"
        assert np.all(np.isin(r.status, (0, 1, 2, 3))), "request without a state"
        rec.fleet = self.fleet
        return rec


def _run_with_progress(env: simpy.Environment, horizon: float, end: float | None) -> None:
    from tqdm.auto import tqdm

    with tqdm(total=round(horizon), unit="sim-s", desc="simulating", leave=False) as bar:
        t = 0.0
        step = max(horizon / 200.0, 1e-3)
        while t < horizon and (end is None or t < end):
            t = min(t + step, horizon)
            env.run(until=t)
            bar.update(round(t) - bar.n)
        env.run(until=end)


def run(f: Fleet, *, record_steps: bool = True, progress: bool = False) -> Records:
    """Simulate the resolved scenario ``f`` and return its raw records (frames are built from
    them in :mod:`maiasim.results`)."""
    return _Sim(f, record_steps).run(progress)
