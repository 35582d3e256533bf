"""The requests frame: one row per request, from the engine's request log.

Latencies are derived here, not in the engine, so the engine records only the times it knows
(arrival, admission, first and last token) and every latency has one definition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..engine.records import REASONS, STATUS_NAMES, RequestLog


def requests_frame(r: RequestLog, workloads: Sequence, pools: Sequence[str],
                   cost_usd: np.ndarray) -> pd.DataFrame:
    """One row per request: times, latencies, lengths, tenant, SLO class, pool, replica,
    preemptions, status, reason and attributed cost.

    ``workloads``: the scenario's workloads, in order (the log stores their index); ``pools``:
    the pool names, in order; ``cost_usd``: each request's share of the fleet's cost."""
    wl = r.workload.astype(int)
    ttft = r.first_token_s - r.arrival_s
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(r.output > 1, (r.finish_s - r.first_token_s) / (r.output - 1), np.nan)
    return pd.DataFrame({
        "request_id": np.arange(len(r.arrival_s)),
        "workload": pd.Categorical.from_codes(wl, categories=[w.name for w in workloads]),
        "arrival_s": r.arrival_s,
        "admit_s": r.admit_s,
        "first_token_s": r.first_token_s,
        "finish_s": r.finish_s,
        "ttft_s": ttft,
        "tpot_s": tpot,
        "e2e_s": r.finish_s - r.arrival_s,
        "prompt_tokens": r.prompt,
        "output_tokens": r.output,
        "cached_tokens": r.cached_tokens,
        "output_tokens_generated": r.generated,
        "tenant": _label(wl, [w.tenant for w in workloads]),
        "slo_class": _label(wl, [w.slo_class for w in workloads]),
        "pool": pd.Categorical.from_codes(r.pool.astype(int), categories=list(pools)),
        "replica": r.replica,
        "prefill_replica": r.prefill_replica,
        "kv_transfer_s": r.kv_transfer_s,
        "preemptions": r.preemptions,
        "retries": r.retries,
        "status": pd.Categorical.from_codes(r.status.astype(int), categories=list(STATUS_NAMES)),
        "reason": pd.Categorical.from_codes(r.reason.astype(int), categories=list(REASONS)),
        "cost_usd": cost_usd,
    })


def _label(codes: np.ndarray, values: list[str]) -> pd.Categorical:
    """Each workload's attribute (tenant, SLO class) for each request, as a categorical."""
    cats = list(dict.fromkeys(values))
    lookup = np.array([cats.index(v) for v in values], dtype=int)
    return pd.Categorical.from_codes(lookup[codes] if len(codes) else codes, categories=cats)
