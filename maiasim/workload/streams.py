"""Request streams: every workload's arrival times and prompt/output lengths, drawn up front.

Each purpose (a workload's arrivals, its prompts, its outputs, the router) draws from its own
random stream of the scenario seed (:func:`rng_for`), so changing one workload or the router never
changes another's draws. Closed-loop arrivals depend on completions, so for them only the lengths
are drawn here and the engine times them.

Request count. Before anything is drawn, each workload's expected request count is computed
(burst and closed_loop: ``count``; poisson and gamma: ``rate_per_s x horizon_s``; trace: the rows
inside the horizon) and a scenario whose total exceeds ``engine.max_requests`` is refused. That
check, with every trace file read and validated, is :func:`check`; ``maiasim validate`` runs it
too, so it refuses what ``run`` would without drawing anything. While drawing, a workload that
passes the limit anyway (a heavy-tailed gamma, whose gaps are nearly all zero when ``cv`` is
large) is stopped. Both are :class:`ScenarioError`; the limit never changes a
draw, so a scenario under it gives the same arrays as an unlimited run would.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import ScenarioError
from ..scenario import Scenario
from ..scenario.workloads import (
    Burst,
    ClosedLoop,
    Gamma,
    Poisson,
    TraceArrival,
    TraceLengths,
    WorkloadConfig,
)
from .arrivals import arrival_times, draw_lengths, too_many
from .traces import Trace, read_trace

__all__ = ["Stream", "check", "expected_requests", "rng_for", "streams"]


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """An independent stream per purpose, e.g. rng_for(7, "chat", "arrival"); stable across runs."""
    entropy = [seed] + [zlib.crc32(k.encode()) for k in keys]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


@dataclass(frozen=True)
class Stream:
    """One workload's requests. ``times`` is None for closed-loop workloads."""

    workload: int
    times: np.ndarray | None
    prompt: np.ndarray
    output: np.ndarray
    concurrency: int = 0
    think_time_s: float = 0.0
    #: each request's shared-prefix group (0 .. groups-1), or None when the workload has no prefix
    group: np.ndarray | None = None


def streams(sc: Scenario) -> list[Stream]:
    """Every workload's requests, drawn from independent streams of the scenario seed.

    Refuses (before drawing) a scenario expected to issue more than engine.max_requests."""
    traces: dict[str, Trace] = {}
    check(sc, traces)
    out, used = [], 0
    for i, w in enumerate(sc.workload):
        s = _stream(sc, i, w, sc.engine.max_requests - used, traces)
        used += len(s.prompt)
        out.append(s)
    return out


def _trace(sc: Scenario, path: str, traces: dict[str, Trace]) -> Trace:
    """read_trace once per streams() call, so a file edited meanwhile is seen one way only."""
    resolved = sc.resolve_path(path)
    if resolved not in traces:
        traces[resolved] = read_trace(resolved)
    return traces[resolved]


def _trace_window(sc: Scenario, arr: TraceArrival, traces: dict[str, Trace]) -> Trace:
    """The trace's requests from start_s on, rescaled, that arrive before the horizon."""
    t, p, o = _trace(sc, arr.path, traces)
    keep = t >= arr.start_s
    t, p, o = (t[keep] - arr.start_s) * arr.time_scale, p[keep], o[keep]
    if arr.repeat and len(t) > 1:
        period = (t[-1] - t[0]) * len(t) / (len(t) - 1)  # the span plus one mean gap
        copies = int(min(np.ceil((sc.horizon_s - t[0]) / period), 2**40)) if period > 0 else 1
        if copies * len(t) > sc.engine.max_requests:  # refused before the copies take memory
            raise ScenarioError(f"trace {arr.path!r} repeated to horizon_s={sc.horizon_s:g} s "
                                f"gives about {copies * len(t):,} requests, over "
                                f"engine.max_requests = {sc.engine.max_requests:,}; shorten "
                                "horizon_s, raise time_scale or raise engine.max_requests")
        if copies > 1:
            t = (t[None, :] + period * np.arange(copies)[:, None]).ravel()
            p, o = np.tile(p, copies), np.tile(o, copies)
    n = int(np.searchsorted(t, sc.horizon_s, side="left"))
    return t[:n], p, o


def expected_requests(sc: Scenario, w: WorkloadConfig,
                      traces: dict[str, Trace] | None = None) -> float:
    """Requests a workload is expected to issue: count, rate x horizon, or trace rows in it."""
    arr = w.arrival
    if isinstance(arr, (Burst, ClosedLoop)):
        return float(arr.count)
    if isinstance(arr, (Poisson, Gamma)):
        return arr.rate_per_s * sc.horizon_s
    if isinstance(arr, TraceArrival):
        return float(len(_trace_window(sc, arr, {} if traces is None else traces)[0]))
    raise AssertionError(arr)


def check(sc: Scenario, traces: dict[str, Trace] | None = None) -> float:
    """Refuse, before drawing, what :func:`streams` would; return the expected request count.

    Resolves every trace path (arrival and length traces; an unknown ``azure:`` alias is an
    error), reads and validates each trace file once, and refuses a scenario expected to issue
    more than ``engine.max_requests`` (a huge count would take unbounded memory and time). Raises
    :class:`ScenarioError`. ``traces`` (path -> parsed trace) is filled for the caller to reuse."""
    traces = {} if traces is None else traces
    for w in sc.workload:
        paths = [w.arrival.path] if isinstance(w.arrival, TraceArrival) else []
        paths += [spec.path for spec in (w.prompt_tokens, w.output_tokens)
                  if isinstance(spec, TraceLengths) and spec.path is not None]
        for path in paths:
            _trace(sc, path, traces)
    limit = sc.engine.max_requests
    counts = [(w.name, expected_requests(sc, w, traces)) for w in sc.workload]
    total = sum(n for _, n in counts)
    if total <= limit:
        return total
    big = [(name, n) for name, n in counts if n > 0]
    if len(big) == 1:
        name, n = big[0]
        raise too_many(name, f"expects {n:,.0f} requests", limit)
    parts = " + ".join(f"{name!r} ({n:,.0f})" for name, n in big)
    raise ScenarioError(f"workloads {parts} expect {total:,.0f} requests in all, over "
                        f"engine.max_requests = {limit:,}; shorten horizon_s, lower the rates or "
                        "counts, or raise engine.max_requests")


def _stream(sc: Scenario, i: int, w: WorkloadConfig, limit: int,
            traces: dict[str, Trace]) -> Stream:
    arr = w.arrival
    r_arr, r_p, r_o = (rng_for(sc.seed, w.name, k) for k in ("arrival", "prompt", "output"))
    trace_p = trace_o = None
    if isinstance(arr, TraceArrival):
        times, trace_p, trace_o = _trace_window(sc, arr, traces)
        n = len(times)
    elif isinstance(arr, ClosedLoop):
        times, n = None, arr.count
    else:
        times = arrival_times(arr, sc.horizon_s, r_arr, limit, w.name)
        n = len(times)

    def lengths(spec, rng, col):
        if isinstance(spec, TraceLengths) and spec.path is not None:
            _, tp, to = _trace(sc, spec.path, traces)
            src = tp if col == "prompt" else to
            # one shared index stream per trace keeps each request's prompt and output paired
            idx = rng_for(sc.seed, w.name, "trace-sample", spec.path).integers(0, len(src), size=n)
            return src[idx]
        return draw_lengths(spec, n, rng, trace_p if col == "prompt" else trace_o)

    prompt = lengths(w.prompt_tokens, r_p, "prompt")
    output = lengths(w.output_tokens, r_o, "output")
    group = None
    if w.prefix is not None:  # the shared prefix comes first; its group from its own stream
        prompt = np.asarray(prompt, dtype=np.int64) + w.prefix.tokens
        group = rng_for(sc.seed, w.name, "prefix").integers(0, w.prefix.groups, size=n)
    if isinstance(arr, ClosedLoop):
        return Stream(i, None, prompt, output, arr.concurrency, arr.think_time_s, group)
    return Stream(i, np.asarray(times, dtype=float), prompt, output, group=group)
