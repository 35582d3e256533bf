"""The requests frame: one row per request, from the engine's request log.

Latencies are derived here, not in the engine, so the engine records only the times it knows
(arrival, admission, first and last token) and every latency has one definition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..engine.records import REASONS, STATUS_NAMES, RequestLog


def requests_frame(r: RequestLog, workloads: Sequence[str]) -> pd.DataFrame:
    """One row per request: times, latencies, lengths, replica, preemptions, status and reason.

    ``workloads``: the workload names, in the scenario's order (the log stores their index)."""
    ttft = r.first_token_s - r.arrival_s
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(r.output > 1, (r.finish_s - r.first_token_s) / (r.output - 1), np.nan)
    return pd.DataFrame({
        "request_id": np.arange(len(r.arrival_s)),
        "workload": pd.Categorical.from_codes(r.workload.astype(int), categories=list(workloads)),
        "arrival_s": r.arrival_s,
        "admit_s": r.admit_s,
        "first_token_s": r.first_token_s,
        "finish_s": r.finish_s,
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_s": r.finish_s - r.arrival_s,
        "prompt_tokens": r.prompt,
        "output_tokens": r.output,
        "output_tokens_generated": r.generated,
        "replica": r.replica,
        "preemptions": r.preemptions,
        "status": pd.Categorical.from_codes(r.status.astype(int), categories=list(STATUS_NAMES)),
        "reason": pd.Categorical.from_codes(r.reason.astype(int), categories=list(REASONS)),
    })
