"""Frames: the one place where raw records become pandas DataFrames (built lazily, cached)."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ..engine.records import REASONS, STATUS_NAMES, Records
from ..scenario.schema import Scenario
from .economics import chip_hour_usd, energy_j
from .slo import p99_targets_met, requests_meeting, requests_meeting_own

PCTS = (50, 90, 99)
MAX_TIMELINE_BINS = 1_000_000  #: as the schema allows over the horizon


class Result:
    """The outcome of one simulation: ``requests``, ``replicas``, ``timeline`` and ``summary``."""

    def __init__(self, scenario: Scenario, records: Records):
        self.scenario = scenario
        self.records = records
        self.duration_s = float(records.end_s)
        chip = scenario.chip_spec()
        self.chip_hour_usd, self.cost_source = chip_hour_usd(scenario.cost, chip)
        self._chip = chip
        self.step_model = records.meta["step"]
        self.memory_plan = records.meta["mem"]

    def __repr__(self) -> str:
        s = self._summary.loc[self._summary.workload == "all"].iloc[0]
        return (f"<Result {self.scenario.name}: {int(s.requests)} requests, {int(s.completed)} completed, "
                f"{s.throughput_tok_s:,.0f} tok/s, TTFT p99 {s.ttft_p99_s:.3g} s, TPOT p99 {s.tpot_p99_s:.3g} s>")

    # ---- requests ------------------------------------------------------------------------------
    # ---- the four frames: copies, so that a caller's edit never reaches a later computation -----
    @property
    def requests(self) -> pd.DataFrame:
        """One row per request: times, lengths, replica, preemptions, final status and reason."""
        return self._requests.copy()

    @property
    def replicas(self) -> pd.DataFrame:
        """One row per replica: busy time, MFU, MBU, KV peak, tokens, steps, energy."""
        return self._replicas.copy()

    @property
    def timeline(self) -> pd.DataFrame:
        """Cluster-wide time bins: throughput, queue depth, batch size, KV use, busy, power."""
        return self._timeline.copy()

    @property
    def summary(self) -> pd.DataFrame:
        """One row per workload and one for ``all``: counts, percentiles, SLO, cost, energy."""
        return self._summary.copy()

    def with_summary(self, summary: pd.DataFrame) -> Result:
        """This result with ``summary`` replaced (e.g. by one with uncertainty bands)."""
        self.__dict__["_summary"] = summary.copy()
        return self

    # ---- requests ------------------------------------------------------------------------------
    @cached_property
    def _requests(self) -> pd.DataFrame:
        r = self.records.requests
        names = [w.name for w in self.scenario.workload]
        ttft = r.first_token_s - r.arrival_s
        with np.errstate(invalid="ignore", divide="ignore"):
            tpot = np.where(r.output > 1, (r.finish_s - r.first_token_s) / (r.output - 1), np.nan)
        df = pd.DataFrame({
            "request_id": np.arange(len(r.arrival_s)),
            "workload": pd.Categorical.from_codes(r.workload.astype(int), categories=names),
            "arrival_s": r.arrival_s,
            "admit_s": r.admit_s,
            "first_token_s": r.first_token_s,
            "finish_s": r.finish_s,
            "ttft_s": ttft,
            "tpot_s": tpot,
            "e2e_s": r.finish_s - r.arrival_s,
            "prompt_tokens": r.prompt,
            "output_tokens": r.output,
            "generated_tokens": r.generated,
            "replica": r.replica,
            "preemptions": r.preemptions,
            "status": pd.Categorical.from_codes(r.status.astype(int), categories=list(STATUS_NAMES)),
            "reason": pd.Categorical.from_codes(r.reason.astype(int), categories=list(REASONS)),
        })
        return df

    # ---- replicas ------------------------------------------------------------------------------
    @cached_property
    def _replicas(self) -> pd.DataFrame:
        rp = self.records.replicas
        sc, step = self.scenario, self.step_model
        per = sc.deployment.tensor_parallel * sc.deployment.pipeline_parallel
        dur = max(self.duration_s, 1e-12)
        chip = self._chip
        peak = step.peak_gemm * per
        bw = chip.hbm_bandwidth_bytes_per_s * per
        cap = self.memory_plan.kv_capacity_tokens
        return pd.DataFrame({
            "replica": np.arange(len(rp.busy_s)),
            "chips": per,
            "busy_s": rp.busy_s,
            "busy_frac": rp.busy_s / dur,
            "mfu": rp.flops / (peak * dur),
            "mbu": rp.hbm_bytes / (bw * dur),
            "kv_capacity_tokens": cap,
            "kv_peak_frac": rp.kv_peak_tokens / cap,
            "tokens": rp.out_tokens,
            "prefill_tokens": rp.prefill_tokens,
            "steps": rp.steps,
            "jumps": rp.jumps,
            "preemptions": rp.preemptions,
            "energy_j": energy_j(per, chip.power_w, chip.idle_power_fraction, dur, rp.busy_s),
        })

    # ---- timeline ------------------------------------------------------------------------------
    @cached_property
    def _timeline(self) -> pd.DataFrame:
        """Cluster-wide per time bin: tokens/s, prefill tokens/s, mean queue depth, KV use, busy.

        Time-weighted and exact: every step of a fast-forward jump is placed where it ran (the
        frame is the same with fast-forward on or off), and the queue depth integrates the queue's
        own changes, so Little's law holds on it."""
        st = self.records.steps
        dur = self.duration_s
        bin_s = self.scenario.engine.timeline_bin_s or _nice_bin(dur)
        if dur / bin_s > MAX_TIMELINE_BINS:  # a long drain past a fine-grained horizon
            bin_s = _nice_bin(dur * 120.0 / MAX_TIMELINE_BINS)
        nb = max(1, int(np.ceil(dur / bin_s)))
        edges = np.arange(nb + 1) * bin_s
        zeros = np.zeros(nb)
        cols = {"time_s": edges[:-1], "throughput_tok_s": zeros, "prefill_tok_s": zeros,
                "queue_depth": zeros, "batch_size": zeros, "kv_used_frac": zeros,
                "busy_frac": zeros}
        if st is None or not len(st):
            return pd.DataFrame(cols)
        a = st.arrays()
        s, e = a["start_s"], a["end_s"]
        # overlap of every segment with every bin, done as a dense sweep over segments' bin spans
        first = np.minimum((s / bin_s).astype(int), nb - 1)
        last = np.minimum(np.maximum(((e - 1e-12) / bin_s).astype(int), first), nb - 1)
        span = last - first + 1
        seg = np.repeat(np.arange(len(s)), span)
        b = np.repeat(first, span) + (np.arange(len(seg)) - np.repeat(np.cumsum(span) - span, span))
        lo = np.maximum(s[seg], edges[b])
        hi = np.minimum(e[seg], edges[b + 1])
        ov = np.clip(hi - lo, 0, None)
        frac = np.divide(ov, (e - s)[seg], out=np.ones_like(ov), where=(e - s)[seg] > 0)
        kv_time = a["kv_tokens"][seg] * ov
        frac, kv_time = _place_jump_steps(self.records.jumps, a, seg, lo, hi, frac, kv_time)
        n_rep = self.scenario.replicas
        cap = self.memory_plan.kv_capacity_tokens
        cols["throughput_tok_s"] = np.bincount(b, a["out_tokens"][seg] * frac, nb) / bin_s
        cols["prefill_tok_s"] = np.bincount(b, a["prefill_tokens"][seg] * frac, nb) / bin_s
        busy = np.bincount(b, ov, nb)
        cols["busy_frac"] = busy / (bin_s * n_rep)
        cols["queue_depth"] = _queue_integral(self.records, edges, dur) / bin_s
        cols["batch_size"] = np.bincount(b, a["running"][seg] * ov, nb) / np.maximum(busy, 1e-12)
        cols["kv_used_frac"] = np.bincount(b, kv_time, nb) / (bin_s * n_rep * cap)
        chip = self._chip
        per = self.scenario.deployment.tensor_parallel * self.scenario.deployment.pipeline_parallel
        cols["power_w"] = energy_j(per, chip.power_w, chip.idle_power_fraction, bin_s * n_rep,
                                   busy) / bin_s
        return pd.DataFrame(cols)

    # ---- summary -------------------------------------------------------------------------------
    @cached_property
    def _summary(self) -> pd.DataFrame:
        req = self._requests
        sc = self.scenario
        dur = max(self.duration_s, 1e-12)
        chips = sc.chips
        cost_total = chips * self.chip_hour_usd * dur / 3600.0
        energy_total = float(self._replicas.energy_j.sum())
        rows = []
        groups = [(w.name, w.slo, req[req.workload == w.name]) for w in sc.workload]
        groups.append(("all", None, req))
        work_tokens = (req.prompt_tokens + req.generated_tokens).astype(float)
        total_work = max(float(work_tokens.sum()), 1.0)
        for name, slo, df in groups:
            done = df[df.status == "completed"]
            out_tok = float(done.output_tokens.sum())
            share = float(work_tokens[df.index].sum()) / total_work
            cost = cost_total * share
            energy = energy_total * share
            met = requests_meeting(df, slo) if name != "all" else requests_meeting_own(req, sc.workload)
            row = {
                "workload": name,
                "requests": len(df),
                "completed": len(done),
                "rejected": int((df.status == "rejected").sum()),
                "dropped": int((df.status == "dropped").sum()),
                "in_flight": int((df.status == "in_flight").sum()),
                "duration_s": dur,
                "throughput_tok_s": out_tok / dur,
                "prompt_tok_s": float(done.prompt_tokens.sum()) / dur,
                "request_rate_per_s": len(done) / dur,
                "goodput_req_s": float(met.sum()) / dur,
            }
            for col in ("ttft_s", "tpot_s", "e2e_s"):
                vals = done[col].to_numpy(float)
                vals = vals[~np.isnan(vals)]
                for p in PCTS:
                    row[f"{col[:-2]}_p{p}_s"] = float(np.percentile(vals, p)) if len(vals) else np.nan
                row[f"{col[:-2]}_mean_s"] = float(vals.mean()) if len(vals) else np.nan
            row["slo_attainment"] = float(met.mean()) if len(df) else np.nan
            row["slo_met"] = p99_targets_met(row, slo) if name != "all" else None
            row["cost_usd"] = cost
            row["tokens_per_usd"] = out_tok / cost if cost > 0 else np.nan
            row["usd_per_mtok"] = cost / out_tok * 1e6 if out_tok > 0 else np.nan
            row["energy_j"] = energy
            row["tokens_per_joule"] = out_tok / energy if energy > 0 else np.nan
            rows.append(row)
        out = pd.DataFrame(rows)
        all_met = [r for r in out.slo_met[:-1] if r is not None]
        out.loc[out.workload == "all", "slo_met"] = bool(all(all_met)) if all_met else None
        return out

    # ---- convenience ---------------------------------------------------------------------------
    def breakdown(self) -> pd.DataFrame:
        """Per-operator time of a representative decode step (the mean decode batch of the run)."""
        rp = self.records.replicas
        req = self._requests
        done = req[req.status == "completed"]
        steps = max(int(rp.steps.sum()), 1)
        batch = max(1, min(int(round(rp.out_tokens.sum() / steps)), self.step_model.max_tokens))
        ctx = int(done.prompt_tokens.mean() + done.output_tokens.mean() / 2) if len(done) else 1024
        b = self.step_model.breakdown([], [ctx] * batch)
        df = pd.DataFrame({"op": list(b.ops), "time_s": list(b.ops.values())})
        df["share"] = df.time_s / b.total_s
        return df

    def to_csv(self, directory) -> list:
        """Write the four frames as CSV files; returns the paths."""
        from pathlib import Path

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = []
        for name in ("summary", "requests", "replicas", "timeline"):
            p = d / f"{name}.csv"
            getattr(self, f"_{name}").to_csv(p, index=False)
            paths.append(p)
        return paths


def _place_jump_steps(jumps, a: dict, seg: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                      frac: np.ndarray, kv_time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Token share and KV time-integral of each (jump, bin) overlap, step by step.

    A jump of S steps has step m lasting ``d1 + c (m - 1)``; each step's tokens are spread over
    that step and its KV use is the value at its end (``kv0 + n m``), exactly as ordinary step
    rows record them."""
    if jumps is None or not len(jumps):
        return frac, kv_time
    jt = np.frombuffer(jumps, dtype=float).reshape(-1, 4)
    is_jump = np.zeros(len(a["start_s"]), bool)
    is_jump[jt[:, 0].astype(int)] = True
    where = np.flatnonzero(is_jump[seg])
    if not len(where):
        return frac, kv_time
    row_of = np.full(len(is_jump), -1)
    row_of[jt[:, 0].astype(int)] = np.arange(len(jt))
    j = row_of[seg[where]]
    steps, d1, c = jt[j, 1], jt[j, 2], jt[j, 3]
    r = seg[where]
    t0, n = a["start_s"][r], a["running"][r].astype(float)
    kv0 = a["kv_tokens"][r] - n * steps

    def cum(m):
        return m * d1 + c * m * (m - 1) / 2.0

    def at(t):
        """(fractional steps done, KV time-integral) from the jump's start to ``t``."""
        u = np.clip(t - t0, 0.0, cum(steps))
        A, B = c / 2.0, d1 - c / 2.0
        with np.errstate(invalid="ignore", divide="ignore"):
            root = np.where(A > 0, (-B + np.sqrt(B * B + 4 * A * u)) / np.where(A > 0, 2 * A, 1),
                            u / np.where(B > 0, B, 1))
        m = np.clip(np.floor(root), 0, steps)
        m = np.where(cum(m) > u, m - 1, m)
        m = np.where((m < steps) & (cum(m + 1) <= u), m + 1, m)
        m = np.clip(m, 0, steps)
        rest = u - cum(m)
        dm = d1 + c * m  # the duration of step m + 1
        done = m + np.divide(rest, dm, out=np.zeros_like(rest), where=(m < steps) & (dm > 0))
        kv_full = kv0 * cum(m) + n * d1 * m * (m + 1) / 2.0 + n * c * (m - 1) * m * (m + 1) / 3.0
        return done, kv_full + (kv0 + n * (m + 1)) * rest

    done_hi, kv_hi = at(hi[where])
    done_lo, kv_lo = at(lo[where])
    frac, kv_time = frac.copy(), kv_time.copy()
    frac[where] = (done_hi - done_lo) / np.maximum(steps, 1)
    kv_time[where] = kv_hi - kv_lo
    return frac, kv_time


def _queue_integral(rec: Records, edges: np.ndarray, end: float) -> np.ndarray:
    """Time-integral of the cluster's queue length over each bin, from its +1/-1 changes: each
    routed request's first wait (``arrival_s`` to ``admit_s``) and the logged re-queues and drops."""
    out = np.zeros(len(edges) - 1)
    r = rec.requests
    if rec.queue is None:
        return out
    routed = r.replica >= 0
    admitted = ~np.isnan(r.admit_s)
    q = np.frombuffer(rec.queue, dtype=float).reshape(-1, 2)
    t = np.concatenate([r.arrival_s[routed], r.admit_s[admitted], q[:, 0]])
    if not len(t):
        return out
    delta = np.concatenate([np.ones(int(routed.sum())), -np.ones(int(admitted.sum())), q[:, 1]])
    order = np.argsort(t, kind="stable")
    t, depth = t[order], np.cumsum(delta[order])
    area = np.concatenate([[0.0], np.cumsum(depth[:-1] * np.diff(t))])  # integral up to t[i]
    x = np.clip(edges, 0.0, max(end, 0.0))
    i = np.searchsorted(t, x, side="right") - 1
    ok = i >= 0
    total = np.zeros(len(x))
    total[ok] = area[i[ok]] + depth[i[ok]] * (x[ok] - t[i[ok]])
    return np.diff(total)


def _nice_bin(duration: float) -> float:
    raw = max(duration / 120.0, 1e-3)
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)

