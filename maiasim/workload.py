"""Request streams: arrival times and prompt/output lengths as numpy arrays, drawn from the seed.

Pure functions: given a workload spec and a random generator, return arrays. Closed-loop arrivals
depend on completions, so for them only the lengths are drawn here and the engine times them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .scenario import (
    Burst,
    ClosedLoop,
    Fixed,
    Gamma,
    Lognormal,
    Poisson,
    Scenario,
    ScenarioError,
    TraceArrival,
    TraceLengths,
    Uniform,
    Workload,
)


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """An independent stream per purpose, e.g. rng_for(7, "chat", "arrival"); stable across runs."""
    entropy = [seed] + [zlib.crc32(k.encode()) for k in keys]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


@lru_cache(maxsize=16)
def read_trace(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seconds since the first request, prompt tokens, output tokens) of an Azure-format CSV."""
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise ScenarioError(f"trace file not found: {path}") from None
    missing = {"TIMESTAMP", "ContextTokens", "GeneratedTokens"} - set(df.columns)
    if missing:
        raise ScenarioError(f"trace {path}: missing columns {sorted(missing)} (need TIMESTAMP, ContextTokens, GeneratedTokens)")
    ts = df["TIMESTAMP"]
    if pd.api.types.is_numeric_dtype(ts):
        t = ts.to_numpy(float)
    else:
        t = pd.to_datetime(ts, format="mixed").astype("int64").to_numpy() / 1e9
    order = np.argsort(t, kind="stable")
    t = t[order] - t[order][0]
    prompt = np.maximum(df["ContextTokens"].to_numpy(np.int64)[order], 1)
    output = np.maximum(df["GeneratedTokens"].to_numpy(np.int64)[order], 1)
    for a in (t, prompt, output):
        a.setflags(write=False)
    return t, prompt, output


@dataclass(frozen=True)
class Stream:
    """One workload's requests. ``times`` is None for closed-loop workloads."""

    workload: int
    times: np.ndarray | None
    prompt: np.ndarray
    output: np.ndarray
    concurrency: int = 0
    think_time_s: float = 0.0


def _lengths(spec, n: int, rng: np.random.Generator, sc: Scenario, trace_col: np.ndarray | None) -> np.ndarray:
    if spec is None or (isinstance(spec, TraceLengths) and spec.path is None):
        assert trace_col is not None
        return np.asarray(trace_col[:n], dtype=np.int64)
    if isinstance(spec, Fixed):
        return np.full(n, spec.value, dtype=np.int64)
    if isinstance(spec, Uniform):
        return rng.integers(spec.low, spec.high + 1, size=n, dtype=np.int64)
    if isinstance(spec, Lognormal):
        x = spec.median * np.exp(spec.sigma * rng.standard_normal(n))
        return np.clip(np.rint(x), spec.min, spec.max).astype(np.int64)
    if isinstance(spec, TraceLengths):
        raise AssertionError("handled by the caller")
    raise AssertionError(spec)


def _arrival_times(arr, horizon: float, rng: np.random.Generator) -> np.ndarray:
    if isinstance(arr, Burst):
        return np.zeros(arr.count)
    if isinstance(arr, (Poisson, Gamma)):
        mean = 1.0 / arr.rate_per_s
        expect = int(horizon / mean * 1.1 + 20 * np.sqrt(horizon / mean) + 100)
        chunks, t0 = [], 0.0
        while True:
            if isinstance(arr, Poisson):
                gaps = rng.exponential(mean, size=expect)
            else:  # gamma with shape k = 1/cv^2 and the same mean
                k = 1.0 / arr.cv**2
                gaps = rng.gamma(k, mean / k, size=expect)
            t = t0 + np.cumsum(gaps)
            chunks.append(t[t < horizon])
            if t[-1] >= horizon:
                return np.concatenate(chunks)
            t0 = t[-1]
    raise AssertionError(arr)


def streams(sc: Scenario) -> list[Stream]:
    """Every workload's requests, drawn from independent streams of the scenario seed."""
    out = []
    for i, w in enumerate(sc.workload):
        out.append(_stream(sc, i, w))
    return out


def _stream(sc: Scenario, i: int, w: Workload) -> Stream:
    arr = w.arrival
    r_arr, r_p, r_o = (rng_for(sc.seed, w.name, k) for k in ("arrival", "prompt", "output"))
    trace_p = trace_o = None
    if isinstance(arr, TraceArrival):
        t, trace_p, trace_o = read_trace(sc.resolve_path(arr.path))
        keep = t >= arr.start_s
        t, trace_p, trace_o = (t[keep] - arr.start_s) * arr.time_scale, trace_p[keep], trace_o[keep]
        n = int(np.searchsorted(t, sc.horizon_s, side="left"))
        times = t[:n]
    elif isinstance(arr, ClosedLoop):
        times, n = None, arr.count
    else:
        times = _arrival_times(arr, sc.horizon_s, r_arr)
        n = len(times)

    def lengths(spec, rng, col):
        if isinstance(spec, TraceLengths) and spec.path is not None:
            _, tp, to = read_trace(sc.resolve_path(spec.path))
            src = tp if col == "prompt" else to
            # one shared index stream per trace keeps each request's prompt and output paired
            idx = rng_for(sc.seed, w.name, "trace-sample", spec.path).integers(0, len(src), size=n)
            return src[idx]
        return _lengths(spec, n, rng, sc, trace_p if col == "prompt" else trace_o)

    prompt = lengths(w.prompt_tokens, r_p, "prompt")
    output = lengths(w.output_tokens, r_o, "output")
    if isinstance(arr, ClosedLoop):
        return Stream(i, None, prompt, output, arr.concurrency, arr.think_time_s)
    return Stream(i, np.asarray(times, dtype=float), prompt, output)
