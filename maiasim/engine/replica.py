"""One model replica: a continuous-batching serving loop with a paged KV cache.

The loop mirrors vLLM's scheduler: decoding sequences first, then chunks of prompts that fit the
token budget (or, without chunked prefill, whole prompts in prefill-only steps); admission needs KV
room for the whole prompt; when decode growth would overflow the cache, the newest sequence is
preempted and later recomputed.

Fast-forward: when the batch is decode-only and no waiting request can join, every step time is
``a + b * context`` with the context growing by ``n`` per step, so the run up to the next completion
(or KV exhaustion) is one closed-form timeout (:mod:`.fastforward`). An arrival that could join
interrupts it and joins at the next step boundary, exactly as it would step by step.
"""

from __future__ import annotations

from collections import deque
from heapq import heappop, heappush

import simpy

from ..physics import MemoryPlan, StepCostModel
from .accounting import Accounting
from .fastforward import Cause, DecodeRun, Jump, StepEnd, steps_after_interrupt
from .offload import HostTier, swap_stall
from .prefix_cache import PrefixCache, PrefixSharing
from .records import COMPLETED, DROPPED, REASON, Records
from .scheduler import Scheduler
from .sequence import Seq

#: the cause of the interrupt that ends a failed replica's serving loop (engine/failures.py)
FAILED = "replica failed"


class Replica(PrefixSharing, Accounting):
    """One model replica: its queue, batch and KV cache, and the loop that serves them."""
    def __init__(self, env: simpy.Environment, idx: int, step: StepCostModel, mem: MemoryPlan,
                 sched: Scheduler, rec: Records, on_finish, fast_forward: bool,
                 queue_timeout_s: float | None = None, cause: Cause | None = None,
                 cache: PrefixCache | None = None):
        self.env, self.idx, self.step, self.rec = env, idx, step, rec
        self.cache = cache  # prefix caching (None: off)
        self.sched = sched
        self.cap = mem.kv_capacity_tokens
        self.per_seq = mem.per_sequence_tokens
        self.on_finish = on_finish
        self.ff = fast_forward
        self.queue_timeout_s = queue_timeout_s
        self.waiting: deque[Seq] = deque()
        self.prefilling: list[Seq] = []
        self.running: dict[int, Seq] = {}  # admission order: the last one is preempted first
        self.heap: list = []  # (finish_step, order, seq) of decoding sequences
        self.k = 0  # decode steps taken
        self.n_dec = 0
        self.ctx_sum = 0  # total context of decoding sequences
        self.kv_used = 0
        self.kv_peak = 0
        self.backlog = 0  # prompt tokens still to prefill, queued or admitted (a routing signal)
        self.host: HostTier | None = None  # KV offload tier (deployment.kv_offload), if any
        self._stall = 0.0  # seconds of KV swapping due before the next step
        self._order = 0
        self._idle: simpy.Event | None = None
        self._jumping: Jump | None = None  # the fast-forward in progress
        self._run: DecodeRun | None = None  # the decode-only run the batch is in
        self._priority = 2 + idx  # of its step ends: after arrivals (simpy's NORMAL is 1)
        self._cause = cause or Cause()
        self._step_start = 0.0
        self.last_end = 0.0
        self._qlog = rec.queue.extend if rec.queue is not None else None  # (time, +1/-1) pairs
        self._totals = [0.0, 0.0, 0.0, 0, 0, 0, 0]  # busy, flops, bytes, out, prefill, steps, jumps
        self.proc = env.process(self.run())

    # ---- arrivals ------------------------------------------------------------------------------
    def enqueue(self, s: Seq) -> None:
        """Queue a routed request; wake the idle loop, or cut a jump short if it can join."""
        w = self.waiting
        self.backlog += s.target - s.done
        head = not w
        if w and s.priority < w[-1].priority:  # ahead of every request of lower priority
            i = next(i for i, x in enumerate(w) if x.priority > s.priority)
            w.insert(i, s)
            head = i == 0
        else:
            w.append(s)
        s.queued = True  # (the queue log takes a first wait from arrival_s and admit_s)
        if s.order < 0 and self._qlog is not None:  # a KV hand-off: arrival_s is not its own
            self._qlog((self.env.now, 1.0))
        if self.queue_timeout_s is not None:
            self.env.timeout(self.queue_timeout_s).callbacks.append(lambda _e: self._expire(s))
        if head or self._idle is not None:  # behind a queue it cannot join either
            self._wake()

    def _wake(self) -> None:
        """The queue head changed: start an idle loop, or cut a jump short if the head can join."""
        if self._idle is not None:
            self._idle.succeed()
            self._idle = None
        elif (j := self._jumping) is not None and not j.interrupted and self.waiting \
                and self.sched.could_join(self, self.waiting[0], j.kv0):
            j.interrupted = True
            self.proc.interrupt()

    def _expire(self, s: Seq) -> None:
        """``queue_timeout_s`` after arrival: a request still queued, with no token yet, is dropped
        then (the client gave up), whatever the engine is doing."""
        if not s.queued or s.generated:
            return
        head = self.waiting[0] is s
        self.waiting.remove(s)
        self.backlog -= s.target - s.done
        s.queued = False
        if self._qlog is not None:
            self._qlog((self.env.now, -1.0))
        self._end(s, DROPPED, "queue_timeout")
        if head and self.waiting:
            self._wake()

    # ---- the serving loop ----------------------------------------------------------------------
    def run(self):
        """The serving loop (a simpy process): schedule a step, jump or wait, and book it."""
        env, rec, schedule = self.env, self.rec, self.sched.schedule
        while True:
            if not self.running and not self.waiting:
                self._idle = env.event()
                yield self._idle
                continue
            chunks, n_dec = schedule(self)
            running, waiting = len(self.running), len(self.waiting)
            if not chunks and not n_dec:
                if not self.running and self.waiting:
                    # an empty replica can always admit its queue head (or drop it with a reason);
                    # waiting here would leave requests in flight forever
                    raise RuntimeError(f"replica {self.idx} stalled with {len(self.waiting)} "
                                       f"queued requests and an empty batch (an engine bug)")
                # the queue head was dropped or waits for running sequences to free KV
                self._idle = env.event()
                yield self._idle
                continue
            if self._stall:  # swaps decided by this schedule run first, on the critical path
                yield from swap_stall(self, running, waiting)
            start = env.now
            self._step_start = start
            if chunks:
                self._run = None
            else:
                run = self._run
                if run is None or run.n != n_dec:
                    a, b = self.step.decode_affine(n_dec)
                    run = self._run = DecodeRun(start, n_dec, a, b, self.ctx_sum)
                if self.ff:
                    steps = self._jump_length()
                    if steps >= 2:
                        yield from self._jump(run, steps, waiting)
                        continue
            # one ordinary step
            tokens = n_dec
            n_out = n_dec
            pre_s = pre_f = pre_b = 0.0
            for s, c in chunks:
                tokens += c
                if s.done + c == s.target:
                    n_out += 1
                t, f, b = self.step.prefill_attention(c, s.done)
                pre_s, pre_f, pre_b = pre_s + t, pre_f + f, pre_b + b
            ctx = self.ctx_sum if n_dec else 0
            if chunks:
                dt = self.step.step_time(tokens, n_out, n_dec, ctx, pre_s)
            else:  # a decode step: its end comes from the run, as a jump's would
                m = run.m = run.m + 1
                dt = run.t0 + (m * run.d1 + run.c * m * (m - 1) / 2.0) - start
            yield StepEnd(env, dt, self._priority)
            self._cause.time, self._cause.priority = env.now, self._priority
            self._account(1, dt, tokens, n_out, n_dec, ctx, pre_f, pre_b)
            if n_dec:
                self.k += 1
                self.ctx_sum += n_dec
                self.kv_used += n_dec
                if self.cache is not None:
                    self._evict()
            kv_step = self.kv_used  # the peak is reached just before completions free memory
            if kv_step > self.kv_peak:
                self.kv_peak = kv_step
            for s, c in chunks:
                s.done += c
                self.backlog -= c
                if s.done == s.target:
                    self._prefill_complete(s)
            if chunks:
                self.prefilling = [s for s in self.prefilling if s.done < s.target]
            if n_dec:
                self._complete_due()
            if rec.steps is not None:
                rec.steps.add((self.idx, start, env.now, n_out, tokens - n_dec, kv_step, waiting,
                               running))

    def admit_head(self) -> Seq:
        """Move the queue head into the batch and reserve KV for its whole prompt (the scheduler
        has checked that it fits). A sequence prefilled elsewhere (``done == target``, a KV
        hand-off) starts decoding at once; any other starts prefilling."""
        s = self.waiting[0]
        first = s.order == 0
        self._pop_head(not first)
        if first:  # a first admission (a preempted sequence keeps its order)
            self.rec.requests.admit_s[s.rid] = self.env.now
        elif s.order > 0 and s.done == s.target:  # swapped out at its preemption: swap it in
            self._stall += self.host.swap_in(s.target)
        self._order += 1
        s.order = self._order
        self.kv_used += s.target + self.per_seq
        self.running[s.rid] = s
        if s.done == s.target:
            self._start_decode(s)
        else:
            s.done = 0
            if self.cache is not None and s.prefix >= 0:
                self._prefix_hit(s, first)
            self.prefilling.append(s)
        return s

    def drop_head(self, reason: str) -> None:
        """End the queue head without running it, with ``reason``."""
        s = self.waiting[0]
        self._pop_head(True)
        self.backlog -= s.target - s.done
        self._end(s, DROPPED, reason)

    def _pop_head(self, log: bool) -> None:
        """Take the head off the queue; ``log`` it unless it is a first admission (``admit_s``)."""
        self.waiting.popleft().queued = False
        if log and self._qlog is not None:
            self._qlog((self.env.now, -1.0))

    def _prefill_complete(self, s: Seq) -> None:
        """The prompt's last chunk ran: a token is out; the sequence starts decoding or finishes."""
        s.generated += 1
        if self.cache is not None:
            self._prefix_insert(s)
        if s.first_token < 0:
            s.first_token = self.env.now
            self.rec.requests.first_token_s[s.rid] = s.first_token
        if s.generated >= s.output or s.handoff:  # (a prefill pool stops at the first token)
            del self.running[s.rid]
            self._leave(s, s.target, True)
            self._end(s, COMPLETED)
            return
        self._start_decode(s)

    def _start_decode(self, s: Seq) -> None:
        s.ctx_base = s.target - self.k
        s.finish_step = self.k + (s.output - s.generated)
        heappush(self.heap, (s.finish_step, s.order, s))
        self.n_dec += 1
        self.ctx_sum += s.target

    def _complete_due(self) -> None:
        heap, k = self.heap, self.k
        while heap and heap[0][0] <= k:
            fs, _, s = heappop(heap)
            if s.finish_step != fs:
                continue  # stale: preempted since
            ctx = s.ctx_base + k
            self.n_dec -= 1
            self.ctx_sum -= ctx
            self._leave(s, ctx, True)
            del self.running[s.rid]
            s.generated = s.output
            s.finish_step = -1
            self._end(s, COMPLETED)

    def preempt_newest(self) -> None:
        """Evict the most recently admitted sequence back to the queue head (recompute later)."""
        rid, s = self.running.popitem()
        decoding = s.finish_step >= 0
        if decoding:
            ctx = s.ctx_base + self.k
            s.generated = s.output - (s.finish_step - self.k)
            s.finish_step = -1
            self.n_dec -= 1
            self.ctx_sum -= ctx
        else:
            self.prefilling.remove(s)
            ctx = s.target
            self.backlog -= s.target - s.done
        self._leave(s, ctx, False)
        s.target = s.prompt + s.generated
        swap = self.host.swap_out(s.target) if self.host is not None and decoding else None
        if swap is None:  # recomputed when readmitted
            s.done = 0
            self.backlog += s.target
        else:  # its KV waits in host memory: readmitted, it decodes on
            s.done = s.target
            self._stall += swap
        self.rec.requests.preemptions[rid] += 1
        self.rec.replicas.preemptions[self.idx] += 1
        self.waiting.appendleft(s)
        s.queued = True
        if self._qlog is not None:
            self._qlog((self.env.now, 1.0))

    def _end(self, s: Seq, status: int, reason: str = "") -> None:
        if s.handoff and status == COMPLETED:  # prefilled: the fleet hands it to a decode pool
            self.on_finish(self, s)
            return
        r = self.rec.requests
        r.status[s.rid] = status
        r.reason[s.rid] = REASON[reason]
        r.generated[s.rid] = s.generated
        if status == COMPLETED:
            r.finish_s[s.rid] = self.env.now
        self.on_finish(self, s)

    # ---- fast-forward --------------------------------------------------------------------------
    def _jump_length(self) -> int:
        """Decode steps to the next completion or KV exhaustion; 0 if a waiting request can join."""
        if self.waiting and self.sched.could_join(self, self.waiting[0], self.kv_used):
            return 0
        heap = self.heap
        while heap and heap[0][2].finish_step != heap[0][0]:
            heappop(heap)
        to_finish = heap[0][0] - self.k
        to_full = (self.cap - self.kv_used) // self.n_dec
        return min(to_finish, to_full)

    def _jump(self, run: DecodeRun, steps: int, waiting: int):
        env = self.env
        t0 = env.now
        j = Jump(run, t0, steps, self.kv_used, waiting)
        self._jumping = j
        end = j.end_of(steps)
        try:
            yield StepEnd(env, end - t0, self._priority)
        except simpy.Interrupt as e:
            if e.cause is FAILED or self._jumping is not j:
                raise  # the replica went down (engine/failures.py)
            j.steps = steps = steps_after_interrupt(j, self.env.now, self._cause, self._priority)
            end = j.end_of(steps)
            if end > env.now:
                yield StepEnd(env, end - env.now, self._priority)
        self._cause.time, self._cause.priority = env.now, self._priority
        self._jumping = None
        self._settle(j, steps, end)
        self._complete_due()

    def _settle(self, j: Jump, steps: int, end: float) -> None:
        """Book the first ``steps`` steps of jump ``j`` (ending at ``end``), as if they had run
        one by one."""
        if steps <= 0:
            return
        n, run, t0 = j.n, j.run, j.t0
        grown = n * steps
        self._account(steps, end - t0, n, n, n, steps * self.ctx_sum + grown * (steps - 1) / 2.0,
                      0.0, 0.0, True)
        self.last_end = end
        run.m += steps
        self.k += steps
        self.ctx_sum += grown
        kv = self.kv_used = self.kv_used + grown
        if self.cache is not None:
            self._evict()
        if kv > self.kv_peak:
            self.kv_peak = kv
        log = self.rec.steps
        if log is not None:  # the timeline's step placement: first step's time and its growth
            self.rec.jumps.extend((len(log.data) // log.WIDTH, steps,
                                   run.d1 + run.c * j.m0, run.c))
            log.add((self.idx, t0, end, grown, 0, kv, j.waiting, n))
