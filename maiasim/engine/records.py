"""Columnar recorders: what the engine writes while it runs, as preallocated arrays.

The engine stores facts (times, counts), never statistics; :mod:`maiasim.results.frames` turns
them into frames once, at the end.
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
    "recompute_exceeds_max_batch_tokens",
    "slo_admission",
    "kv_transfer_at_end",
    "failed_retries_exhausted",
    "no_replica_available",
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
        self.pool = np.full(n, -1, np.int16)  # the pool that served (decoded) it
        self.prefill_replica = np.full(n, -1, np.int32)  # disaggregated: where it was prefilled
        self.kv_transfer_s = np.full(n, np.nan)  # disaggregated: seconds its KV hand-off took
        self.preemptions = np.zeros(n, np.int32)
        self.retries = np.zeros(n, np.int16)  # times it lost its replica to a failure or drain
        self.cached_tokens = np.zeros(n, np.int64)  # prompt tokens its first admission reused
        self.status = np.full(n, IN_FLIGHT, np.int8)
        self.reason = np.zeros(n, np.int8)

    def trim(self) -> None:
        """Drop slots never used (closed-loop clients stopped by the horizon)."""
        for k, v in list(vars(self).items()):
            if isinstance(v, np.ndarray):
                setattr(self, k, v[: self.n])


class StepLog:
    """One row per engine step or fast-forward jump of any replica (the timeline's raw data).

    ``waiting`` and ``running`` are the queue and batch sizes as the step starts; ``kv_tokens`` is
    the KV use as it ends (its peak within the step). Rows are packed into one flat float array:
    one ``extend`` per step is the cheapest record Python offers."""

    FIELDS = ("replica", "start_s", "end_s", "out_tokens", "prefill_tokens", "kv_tokens", "waiting",
              "running")
    WIDTH = len(FIELDS)

    def __init__(self):
        self.data = array("d")
        self.add = self.data.extend  # called with one tuple in FIELDS order

    def __len__(self) -> int:
        return len(self.data) // len(self.FIELDS)

    def arrays(self) -> dict[str, np.ndarray]:
        """The log as one column per field (counts as integers), for the timeline frame."""
        m = (np.frombuffer(self.data, dtype=float).reshape(-1, len(self.FIELDS)) if len(self.data)
             else np.zeros((0, len(self.FIELDS))))
        out = {f: m[:, i] for i, f in enumerate(self.FIELDS)}
        for f in ("replica", "out_tokens", "prefill_tokens", "kv_tokens", "waiting", "running"):
            out[f] = out[f].astype(np.int64)
        return out


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
        self.kv_swaps = np.zeros(n, np.int64)  # preemptions swapped to host memory


class Records:
    """Everything one simulation run wrote, plus what the result needs to interpret it.

    With ``record_steps`` the timeline's raw data is kept: ``steps`` (one row per step or jump),
    ``jumps`` (for each jump row: its row index, step count, first step's seconds and the growth
    of each further step, so the timeline can place every step of a jump exactly) and ``queue``
    (``(time, +1 or -1)`` whenever a replica's queue grows or shrinks, except a request's first
    wait, which is ``arrival_s`` to ``admit_s`` in the request log: the hot path logs nothing)."""

    def __init__(self, n_requests: int, n_replicas: int, record_steps: bool = True):
        self.requests = RequestLog(n_requests)
        self.replicas = ReplicaLog(n_replicas)
        self.steps = StepLog() if record_steps else None
        self.jumps = array("d") if record_steps else None
        self.queue = array("d") if record_steps else None
        self.end_s = 0.0
        self.fleet = None  #: the :class:`maiasim.build.Fleet` that was simulated
        self.pool_of_replica = np.zeros(n_replicas, np.int16)  #: each replica's pool index
        #: with failures on: (failure events, outages) from :meth:`engine.failures.Failures.close`
        self.failures: tuple[list, list] | None = None
