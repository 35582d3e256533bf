"""Columnar recorders: what the engine writes while it runs, as preallocated arrays.

The engine stores facts (times, counts), never statistics; :mod:`maiasim.result` turns them into
frames once, at the end.
"""

from __future__ import annotations

from array import array

import numpy as np

COMPLETED, REJECTED, DROPPED, IN_FLIGHT = 0, 1, 2, 3
STATUS_NAMES = ("completed", "rejected", "dropped", "in_flight")

#: reason codes for requests that did not complete
REASONS = (
    "",
    "exceeds_max_context",
    "exceeds_kv_capacity",
    "prompt_exceeds_max_batch_tokens",
    "queue_timeout",
    "queued_at_end",
    "running_at_end",
)
REASON = {name: i for i, name in enumerate(REASONS)}


class RequestLog:
    """One slot per request id."""

    def __init__(self, n: int):
        self.n = 0
        self.workload = np.zeros(n, np.int16)
        self.arrival_s = np.full(n, np.nan)
        self.admit_s = np.full(n, np.nan)  # first admission into a batch
        self.first_token_s = np.full(n, np.nan)
        self.finish_s = np.full(n, np.nan)
        self.prompt = np.zeros(n, np.int64)
        self.output = np.zeros(n, np.int64)
        self.generated = np.zeros(n, np.int64)
        self.replica = np.full(n, -1, np.int32)
        self.preemptions = np.zeros(n, np.int32)
        self.status = np.full(n, IN_FLIGHT, np.int8)
        self.reason = np.zeros(n, np.int8)

    def trim(self) -> None:
        """Drop slots never used (closed-loop clients stopped by the horizon)."""
        for k, v in list(vars(self).items()):
            if isinstance(v, np.ndarray):
                setattr(self, k, v[: self.n])


class StepLog:
    """One row per engine step or fast-forward jump of any replica (the timeline's raw data)."""

    FIELDS = ("replica", "start_s", "end_s", "out_tokens", "prefill_tokens", "kv_tokens", "waiting", "running")

    def __init__(self):
        self.replica = array("i")
        self.start_s = array("d")
        self.end_s = array("d")
        self.out_tokens = array("q")
        self.prefill_tokens = array("q")
        self.kv_tokens = array("q")
        self.waiting = array("i")
        self.running = array("i")

    def add(self, replica, start, end, out_tokens, prefill_tokens, kv_tokens, waiting, running) -> None:
        self.replica.append(replica)
        self.start_s.append(start)
        self.end_s.append(end)
        self.out_tokens.append(out_tokens)
        self.prefill_tokens.append(prefill_tokens)
        self.kv_tokens.append(kv_tokens)
        self.waiting.append(waiting)
        self.running.append(running)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f: np.frombuffer(getattr(self, f), dtype=getattr(self, f).typecode) if len(getattr(self, f)) else np.zeros(0) for f in self.FIELDS}


class ReplicaLog:
    """Per-replica totals."""

    def __init__(self, n: int):
        self.busy_s = np.zeros(n)
        self.flops = np.zeros(n)
        self.hbm_bytes = np.zeros(n)
        self.out_tokens = np.zeros(n, np.int64)
        self.prefill_tokens = np.zeros(n, np.int64)
        self.kv_peak_tokens = np.zeros(n, np.int64)
        self.steps = np.zeros(n, np.int64)
        self.jumps = np.zeros(n, np.int64)
        self.preemptions = np.zeros(n, np.int64)


class Records:
    """Everything one simulation run wrote, plus what the result needs to interpret it."""

    def __init__(self, n_requests: int, n_replicas: int, record_steps: bool = True):
        self.requests = RequestLog(n_requests)
        self.replicas = ReplicaLog(n_replicas)
        self.steps = StepLog() if record_steps else None
        self.end_s = 0.0
        self.meta: dict = {}
