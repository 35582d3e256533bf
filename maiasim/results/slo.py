"""The one SLO test: which requests met their workload's latency targets, and whether its p99s hold.

Two questions, asked of the same targets (a scenario's ``workload[].slo``):

- per request (:func:`requests_meeting`): completed, and each of its own latencies within the
  target. This feeds ``goodput_req_s`` and ``slo_attainment``.
- per workload (:func:`p99_targets_met`): the workload's p99 latencies within the targets and every
  request completed. This is ``slo_met``, the verdict a capacity plan searches on
  (:func:`verdict`).

A single-token request has no time per output token (its ``tpot_s`` is NaN); it never fails a
TPOT target, and neither does a workload whose requests are all single-token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

#: the latency targets an SLO can set, each named as the summary column it is compared with
TARGETS: tuple[str, ...] = ("ttft_p99_s", "tpot_p99_s", "e2e_p99_s")


def has_targets(slo: Any) -> bool:
    """Whether ``slo`` sets any latency target (a workload without one has no SLO verdict)."""
    return slo is not None and any(getattr(slo, k) is not None for k in TARGETS)


def requests_meeting(requests: pd.DataFrame, slo: Any) -> np.ndarray:
    """Boolean per row of a requests frame: completed, and within every target ``slo`` sets.

    With ``slo`` None (or no targets) a request meets it by completing."""
    ok = (requests.status == "completed").to_numpy().copy()
    if slo is None:
        return ok
    if slo.ttft_p99_s is not None:
        ok &= (requests.ttft_s <= slo.ttft_p99_s).to_numpy()
    if slo.tpot_p99_s is not None:
        ok &= ~(requests.tpot_s > slo.tpot_p99_s).to_numpy()  # single-token requests: no TPOT
    if slo.e2e_p99_s is not None:
        ok &= (requests.e2e_s <= slo.e2e_p99_s).to_numpy()
    return ok


def requests_meeting_own(requests: pd.DataFrame, workloads: Iterable[Any]) -> np.ndarray:
    """Boolean per row of a requests frame: the request met the SLO of its own workload.

    ``workloads``: the scenario's workloads (each with ``name`` and ``slo``); a request of a
    workload not listed counts as not meeting."""
    ok = np.zeros(len(requests), bool)
    for w in workloads:
        m = (requests.workload == w.name).to_numpy()
        ok[m] = requests_meeting(requests[m], w.slo)
    return ok


def p99_targets_met(row: Mapping, slo: Any) -> bool | None:
    """Whether a workload's summary ``row`` meets ``slo``: every p99 target holds and every
    request completed. None when ``slo`` sets no target (nothing to meet)."""
    if not has_targets(slo):
        return None
    checks = []
    if slo.ttft_p99_s is not None:
        checks.append(row["ttft_p99_s"] <= slo.ttft_p99_s)
    if slo.tpot_p99_s is not None:
        checks.append(not row["tpot_p99_s"] > slo.tpot_p99_s)
    if slo.e2e_p99_s is not None:
        checks.append(row["e2e_p99_s"] <= slo.e2e_p99_s)
    incomplete = row["completed"] < row["requests"]
    return bool(all(checks)) and not incomplete


def verdict(summary: pd.DataFrame, slos: Mapping[str, Any]) -> tuple[bool, str]:
    """(every workload meets its SLO, what failed) from a summary frame and the SLO per workload.

    A workload fails when a request did not complete or (for a workload whose ``slo_met`` is
    False) a p99 exceeds its target; the text names each failure, ``"; "``-separated, and is
    empty when all is met."""
    why = []
    for _, r in summary.loc[summary.workload != "all"].iterrows():
        slo = slos[r.workload]
        incomplete = int(r.requests - r.completed)
        if incomplete:
            why.append(f"{r.workload}: {incomplete} of {int(r.requests)} requests not completed")
        if r.slo_met is None or bool(r.slo_met):
            continue
        for key in TARGETS:
            target = getattr(slo, key)
            if target is not None and r[key] > target:
                why.append(f"{r.workload}: {key} {r[key]:.3g} > {target:g}")
    return (not why), "; ".join(why)


def result_verdict(res: Any) -> tuple[bool, str]:
    """:func:`verdict` for a :class:`~maiasim.results.frames.Result` (its summary and SLOs)."""
    return verdict(res.summary, {w.name: w.slo for w in res.scenario.workload})
