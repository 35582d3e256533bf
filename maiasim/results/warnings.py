"""Warnings about a run that its summary alone would hide, one line each.

Pure functions of the scenario and the requests frame; :attr:`maiasim.results.Result.warnings`
calls them and ``maiasim run`` prints each as ``maiasim: warning: ...`` after the summary.

An open-loop workload (Poisson, gamma or trace arrivals) whose last request arrives before
:data:`EARLY_END_SHARE` of ``horizon_s`` "ended long before the horizon": typically its trace ran
out, so the run covers less time than the horizon asked for and the workload's rates in the
summary are averaged over a run it was absent from at the end. Burst workloads (every request at
t = 0) and closed-loop workloads (their arrivals follow the fleet's speed and stop at ``count``)
end early by design and are not checked.
"""

from __future__ import annotations

import pandas as pd

from ..scenario import Scenario
from ..scenario.workloads import Gamma, Poisson, TraceArrival

#: a workload's last arrival before this share of ``horizon_s`` ends it "long before the horizon"
EARLY_END_SHARE = 0.8

_OPEN_LOOP = (Poisson, Gamma, TraceArrival)


def run_warnings(scenario: Scenario, requests: pd.DataFrame, duration_s: float | None = None,
                 replicas: pd.DataFrame | None = None) -> list[str]:
    """Every warning about this run: :func:`early_end_warnings` and, given the replicas frame,
    :func:`saturation_warnings`."""
    out = early_end_warnings(scenario, requests, duration_s)
    if replicas is not None:
        out += saturation_warnings(replicas)
    return out


def saturation_warnings(replicas: pd.DataFrame) -> list[str]:
    """One line when replicas saturated (their queues grew without bound): latencies from such a
    run grow with the horizon, so it supports no capacity number."""
    sat = replicas[replicas.saturated]
    if sat.empty:
        return []
    return [f"{len(sat)} of {len(replicas)} replicas saturated (their queues grew without bound "
            f"from {sat.saturated_since_s.min():,.0f} s): latencies grow with the horizon; add "
            "replicas or lower the load before quoting a capacity"]


def early_end_warnings(scenario: Scenario, requests: pd.DataFrame,
                       duration_s: float | None = None) -> list[str]:
    """One line per open-loop workload whose arrivals ended before :data:`EARLY_END_SHARE` of
    ``horizon_s`` (or that had none). ``requests`` is :attr:`Result.requests` (``workload`` and
    ``arrival_s`` are read); ``duration_s``, the simulated time, is quoted when given."""
    horizon = float(scenario.horizon_s)
    run = f" ({duration_s:,.0f} s)" if duration_s is not None else ""
    out = []
    for w in scenario.workload:
        if not isinstance(w.arrival, _OPEN_LOOP):
            continue
        arrivals = requests.arrival_s[requests.workload == w.name]
        if arrivals.empty:
            out.append(f"workload {w.name!r}: no request arrived within the horizon "
                       f"({horizon:,.0f} s)")
            continue
        last = float(arrivals.max())
        if last >= EARLY_END_SHARE * horizon:
            continue
        why = ("its trace ran out" if isinstance(w.arrival, TraceArrival)
               else "no later arrival was drawn")
        out.append(f"workload {w.name!r}: arrivals ended at {last:,.0f} s, {last / horizon:.0%} "
                   f"of the horizon ({horizon:,.0f} s): {why}; the summary's rates are over the "
                   f"whole run{run}")
    return out
