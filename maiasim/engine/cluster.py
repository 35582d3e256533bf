"""Build the simulated cluster from a scenario, run it, and hand back the records."""

from __future__ import annotations

import numpy as np
import simpy

from ..build import Build
from ..workload.streams import Stream, rng_for, streams
from .fastforward import Cause
from .records import COMPLETED, REASON, REJECTED, Records
from .replica import Replica, Seq
from .routers import make_router
from .schedulers import make_scheduler


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
            if sim.submit(st.workload, int(st.prompt[i]), int(st.output[i]), self.done):
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
    def __init__(self, b: Build, record_steps: bool):
        sc = b.scenario
        self.sc, self.build = sc, b
        self.step, self.mem = b.step, b.memory
        self.streams = streams(sc)
        self.horizon = sc.horizon_s
        n = sum(len(s.prompt) for s in self.streams)
        self.rec = Records(n, sc.replicas, record_steps)
        self.env = simpy.Environment()
        d = sc.deployment
        self.router = make_router(sc.router.policy, sc.replicas, rng_for(sc.seed, "router"))
        cause = Cause()  # which step end is being processed: orders ties the same in both modes
        s, sv = d.scheduler, b.serving
        sched = make_scheduler(sv.policy, s.max_batch_tokens, s.max_num_seqs, sv.chunked_prefill,
                               sv.watermark)
        self.replicas = [
            Replica(self.env, i, self.step, self.mem, sched, self.rec, self._finished,
                    sc.engine.fast_forward, s.queue_timeout_s, cause)
            for i in range(sc.replicas)
        ]
        self.max_context = sc.model_spec().max_context
        self.max_tokens = d.scheduler.max_batch_tokens
        self.chunked = sv.chunked_prefill
        self.next_id = 0
        #: the front end's time outside the engine: per request, and per output token
        self.fe_request, self.fe_token = sv.front_end_request_s, sv.front_end_token_s

    def submit(self, wl: int, prompt: int, output: int, on_done=None) -> bool:
        """Reject the request or route it; True when it was routed (``on_done`` fires later)."""
        rid = self.next_id
        self.next_id += 1
        r = self.rec.requests
        r.n = self.next_id
        now = self.env.now
        r.workload[rid], r.arrival_s[rid], r.prompt[rid], r.output[rid] = wl, now, prompt, output
        reason = ""
        if prompt + output > self.max_context:
            reason = "exceeds_max_context"
        elif prompt + output + self.mem.per_sequence_tokens > self.mem.kv_capacity_tokens:
            reason = "exceeds_kv_capacity"
        elif not self.chunked and prompt > self.max_tokens:
            reason = "prompt_exceeds_max_batch_tokens"
        if reason:
            r.status[rid], r.reason[rid] = REJECTED, REASON[reason]
            return False
        i = self.router.pick()
        r.replica[rid] = i
        self.replicas[i].enqueue(Seq(rid, prompt, output, now, on_done))
        return True

    def _finished(self, replica: Replica, s: Seq) -> None:
        self.router.done(replica.idx)
        if s.on_done is not None:
            delay = self.fe_request + self.fe_token * s.generated  # the client sees it then
            if delay > 0:
                self.env.timeout(delay).callbacks.append(lambda _e: s.on_done())
            else:
                s.on_done()

    def _open_loop(self, times: list, wls: list, prompts: list, outputs: list):
        env, submit = self.env, self.submit
        for t, w, p, o in zip(times, wls, prompts, outputs, strict=True):
            if t > env.now:
                yield env.timeout(t - env.now)
            submit(w, p, o)

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
                    np.concatenate([s.output for s in open_streams])[order]]
            env.process(self._open_loop(times[order].tolist(), *(c.tolist() for c in cols)))
        for s in self.streams:
            if s.times is None:
                _ClosedLoop(self, s).start()
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
        if self.sc.engine.drain and (self.sc.engine.max_drain_s is None
                                     or now < self.sc.horizon_s + self.sc.engine.max_drain_s):
            # drained: the run ends with the last step or arrival (an interrupted jump leaves a
            # stale timeout behind that must not stretch the duration)
            last_arrival = (float(np.nanmax(rec.requests.arrival_s[: rec.requests.n]))
                            if rec.requests.n else 0.0)
            now = max([last_arrival] + [r.last_end for r in self.replicas])
        rec.end_s = now
        for rep in self.replicas:
            rep.finalize(now)
        rec.requests.trim()
        r = rec.requests
        if self.fe_request or self.fe_token:
            # the front end (HTTP, tokeniser, detokeniser) runs beside the engine: it delays what
            # the client sees, not the engine's iterations
            r.first_token_s += self.fe_request + self.fe_token
            done = r.status == COMPLETED
            r.finish_s[done] += self.fe_request + self.fe_token * r.output[done]
        completed = r.status == COMPLETED
        assert np.all(r.generated[completed] == r.output[completed]), "token conservation violated"
        assert np.all(np.isin(r.status, (0, 1, 2, 3))), "request without a state"
        rec.build = self.build
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


def run(b: Build, *, record_steps: bool = True, progress: bool = False) -> Records:
    """Simulate the resolved scenario ``b`` and return its raw records (frames are built from
    them in :mod:`maiasim.results`)."""
    return _Sim(b, record_steps).run(progress)
