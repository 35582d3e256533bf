"""A replica's books: its running totals (busy time, FLOPs, bytes, tokens, steps), written to the
:class:`~maiasim.engine.records.ReplicaLog` once at the end, and how a cut run is settled.

A mixin of :class:`~maiasim.engine.replica.Replica`, kept apart so the serving loop reads alone.
"""

from __future__ import annotations

from .records import REASON


class Accounting:
    """The replica's totals and the end of its run (mixed into ``Replica``)."""

    def _account(self, steps, dt, tokens, n_out, n_dec, ctx_total, pre_f, pre_b,
                 jump=False) -> None:
        """Add ``steps`` identical-shape steps (context summed over them) to the replica's totals.

        Totals live in plain floats here (numpy scalar updates cost more than the arithmetic) and
        are written to the ReplicaLog once, in :meth:`finalize`."""
        step = self.step
        self.last_end = self.env.now
        f, b = step.step_work(tokens, n_out, n_dec, 0)
        t = self._totals
        t[0] += dt
        t[1] += f * steps + step.decode_flops_per_ctx * ctx_total + pre_f
        t[2] += b * steps + step.decode_bytes_per_ctx * ctx_total + pre_b
        t[3] += n_out * steps
        t[4] += (tokens - n_dec) * steps
        t[5] += steps
        if jump:
            t[6] += 1

    def settle_cut(self, now: float) -> bool:
        """The run stops here at ``now`` (its end, or a failure): a jump in progress is booked up
        to the steps that ended by then. True when there was one."""
        j = self._jumping
        if j is None:
            return False
        self._jumping = None
        done = j.steps_by(now)
        self._step_start = j.end_of(done)
        self._settle(j, done, self._step_start)
        return True

    def finalize(self, now: float) -> None:
        """At the end of the run: totals, partial busy time, peak KV, and requests still here.

        A run cut at the horizon stops inside a jump as it would inside a step: the steps that
        ended before ``now`` count, the one in flight adds busy time only."""
        self.settle_cut(now)
        reps, i = self.rec.replicas, self.idx
        busy, flops, nbytes, out, pre, steps, jumps = self._totals
        if self.running:
            busy += max(0.0, now - self._step_start)
        reps.busy_s[i], reps.flops[i], reps.hbm_bytes[i] = busy, flops, nbytes
        (reps.out_tokens[i], reps.prefill_tokens[i], reps.steps[i],
         reps.jumps[i]) = out, pre, steps, jumps
        reps.kv_peak_tokens[i] = self.kv_peak
        reps.kv_swaps[i] = self.host.swaps if self.host is not None else 0
        r = self.rec.requests
        for s in self.running.values():
            r.reason[s.rid] = REASON["running_at_end"]
            r.generated[s.rid] = (s.generated if s.finish_step < 0
                                  else s.output - (s.finish_step - self.k))
        for s in self.waiting:
            r.reason[s.rid] = REASON["queued_at_end"]
            r.generated[s.rid] = s.generated
