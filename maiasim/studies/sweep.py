"""Sweeps: run a grid of scenario variants, with replications, on processes or a Dask cluster.

    import maiasim as ms
    from .sweep import sweep, confidence

    sc = ms.load_scenario("scenarios/maia200-llama70b-conv.yaml")
    df = sweep(sc, grid={"deployment.tensor_parallel": [2, 4, 8], "hardware.chip": ["maia200", "h100"]},
               replications=3, executor="processes")
    ci = confidence(df, metrics=["ttft_p99_s", "tokens_per_usd"])

One row per grid point and replication: the swept values (one column per dotted key), then
``replication``, ``seed``, ``chips``, ``replicas``, ``error``, then the ``"all"`` row of
:attr:`Result.summary` and per-workload SLO columns (``<workload>.slo_met``,
``<workload>.slo_attainment``). A point that cannot run (the model does not fit, the chip count is not
divisible by the parallelism, ...) is a row whose ``error`` says why and whose metrics are NaN.
So is a point whose worker process dies (out of memory, a crash) twice, the second time running
alone (``worker died (BrokenProcessPool): ...``); the points that shared the broken pool are rerun.

Seeds: replication 0 runs with the scenario's own seed (so a one-replication sweep reproduces
``simulate``); replication ``r >= 1`` runs with a seed drawn from ``SeedSequence(seed, spawn_key=(r,))``.
Every grid point uses the same seeds (common random numbers), so differences between points are
not blurred by different traffic draws.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..api import simulate
from ..scenario.schema import Scenario, ScenarioError, load_scenario

EXECUTORS = ("serial", "processes", "dask")

#: the metrics :func:`confidence` summarises when none are named
DEFAULT_CI_METRICS = ("throughput_tok_s", "goodput_req_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
                      "tpot_p99_s", "e2e_p99_s", "slo_attainment", "tokens_per_usd", "usd_per_mtok")

# ---- overrides --------------------------------------------------------------------------------


def apply_overrides(sc: Scenario, overrides: Mapping[str, Any] | None) -> Scenario:
    """``sc.with_overrides(overrides)`` (or ``sc`` itself when there are none).

    ``with_overrides`` keeps the fleet consistent: overriding ``deployment.replicas`` re-derives
    ``hardware.chips``; overriding ``hardware.chips`` or the parallelism re-derives the replicas, so a
    tensor-parallel sweep at a fixed ``hardware.chips`` changes the replica count, and a chip count
    that the parallelism does not divide is an error (an error row in a sweep)."""
    if not overrides:
        return sc
    return sc.with_overrides(dict(overrides))


def replication_seed(seed: int, replication: int) -> int:
    """The seed of a replication: the scenario's own for 0, an independent 32-bit draw after that."""
    if replication == 0:
        return int(seed)
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(replication),))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _as_scenario(scenario: Scenario | str | os.PathLike) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


_STRUCTURAL = ("unknown field", "not a valid index", "cannot set a field")


def _check_grid(sc: Scenario, grid: Mapping[str, Sequence[Any]]) -> dict[str, list]:
    """Reject a grid that can never run: empty, or a key that names no field (a typo)."""
    if not isinstance(grid, Mapping) or not grid:
        raise ScenarioError("sweep: the grid must be a non-empty mapping of dotted keys to lists of values")
    out: dict[str, list] = {}
    for key, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise ScenarioError(f"sweep: grid[{key!r}] must be a list of values, got {values!r}")
        vals = list(values)
        if not vals:
            raise ScenarioError(f"sweep: grid[{key!r}] is empty")
        if key == "seed":
            out[key] = vals
            continue
        errors = []
        for v in vals:
            try:
                apply_overrides(sc, {key: v})
                break
            except ScenarioError as e:
                errors.append(str(e))
        else:
            if all(any(s in msg for s in _STRUCTURAL) for msg in errors):
                raise ScenarioError(f"sweep: grid key {key!r} cannot be set: {errors[0]}")
        out[key] = vals
    return out


# ---- one task -----------------------------------------------------------------------------------


def _error_text(e: BaseException) -> str:
    """One line: the exception's type and message, without the multi-line validation framing."""
    import re

    msg = str(e).strip()
    if isinstance(e, ScenarioError):
        msg = re.sub(r"^invalid scenario( \(\d+ problems\))?:\s*", "", msg)
        msg = re.sub(r"\(top level\): ", "", msg)
        msg = re.sub(r" \(got \{\.\.\.\}\)", "", msg)
    msg = re.sub(r"\s*\n\s*", "; ", msg)
    return f"{type(e).__name__}: {msg}"


def run_point(sc: Scenario, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    """Simulate one variant and return its row (metrics, or ``error``). Never raises for bad points.

    Module-level so that process pools and Dask workers can pickle it."""
    row: dict[str, Any] = {"chips": np.nan, "replicas": np.nan, "error": None}
    try:
        s = apply_overrides(sc, {**overrides, "seed": seed})
        row["chips"], row["replicas"] = s.chips, s.replicas
        res = simulate(s)
    except Exception as e:  # a failed point is data, not a crashed sweep
        row["error"] = _error_text(e)
        return row
    summ = res.summary
    allrow = summ.loc[summ.workload == "all"].iloc[0]
    for col, val in allrow.items():
        if col != "workload":
            row[col] = val
    for _, r in summ.loc[summ.workload != "all"].iterrows():
        row[f"{r.workload}.slo_met"] = r.slo_met
        row[f"{r.workload}.slo_attainment"] = r.slo_attainment
    row["chip_hour_usd"] = res.chip_hour_usd
    return row


def _run_task(task: tuple) -> dict[str, Any]:
    sc, overrides, seed = task
    return run_point(sc, overrides, seed)


def _crash_row(task: tuple, why: str) -> dict[str, Any]:
    """The error row of a sweep point whose worker process died (with its fleet size if valid)."""
    sc, overrides, seed = task
    row: dict[str, Any] = {"chips": np.nan, "replicas": np.nan, "error": why}
    try:
        s = apply_overrides(sc, {**overrides, "seed": seed})
        row["chips"], row["replicas"] = s.chips, s.replicas
    except Exception:  # the point's own error would show had it run; the death is the news
        pass
    return row


def _default_crash(task: Any, why: str) -> dict[str, Any]:
    return {"error": why}


def _death_text(e: BaseException, note: str = "") -> str:
    """``worker died (<exception type>): <message>`` on one line: a task's process died."""
    return f"worker died ({type(e).__name__}): {' '.join(str(e).split())}{note}"


# ---- executors ------------------------------------------------------------------------------------

#: seconds to keep trying a Dask scheduler ``address`` before giving up (Dask's own default is 30)
DASK_CONNECT_TIMEOUT_S = 10.0


def run_tasks(fn: Callable[[Any], Any], tasks: Sequence[Any], *, executor: str = "processes",
              max_workers: int | None = None, address: str | None = None, client: Any = None,
              progress: bool = True, desc: str = "sweep",
              cluster_kwargs: Mapping[str, Any] | None = None,
              on_crash: Callable[[Any, str], Any] | None = None) -> list[Any]:
    """``[fn(t) for t in tasks]`` on the chosen executor, in order, with a tqdm bar.

    ``fn`` must be a module-level function and ``tasks`` picklable for ``processes`` and ``dask``.
    A task whose worker process dies (out of memory, a crash) twice, the second time alone, gives
    ``on_crash(task, why)`` (default ``{"error": why}``) in its place; the other tasks are kept or
    rerun, so one bad point does not lose the rest. (``serial`` runs here: no such guard.)"""
    from tqdm.auto import tqdm

    if executor not in EXECUTORS:
        raise ScenarioError(f"unknown executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    if max_workers is not None and max_workers < 1:
        raise ScenarioError(f"max_workers must be >= 1, got {max_workers}")
    on_crash = on_crash or _default_crash
    n = len(tasks)
    out: list[Any] = [None] * n
    with tqdm(total=n, desc=desc, unit="run", disable=not progress, leave=False) as bar:
        if executor == "serial" or n == 0:
            for i, t in enumerate(tasks):
                out[i] = fn(t)
                bar.update(1)
        elif executor == "processes":
            workers = max(1, min(max_workers or os.cpu_count() or 1, n))
            _run_processes(fn, tasks, out, bar, workers, on_crash)
        else:
            out = _run_dask(fn, tasks, bar, max_workers=max_workers, address=address, client=client,
                            cluster_kwargs=cluster_kwargs, on_crash=on_crash)
    return out


def _run_processes(fn: Callable[[Any], Any], tasks: Sequence[Any], out: list[Any], bar: Any,
                   workers: int, on_crash: Callable[[Any, str], Any]) -> None:
    """Fill ``out`` on process pools, surviving workers that die.

    A dead worker breaks its whole pool: every task still in it fails with BrokenProcessPool, and
    which one killed it is unknown. Finished results are kept; the tasks that were in flight are
    rerun one at a time on a one-worker pool, so one that kills its worker again is named exactly
    (and becomes ``on_crash``); the tasks not yet started go on to a fresh pool."""
    todo = deque(range(len(tasks)))
    suspects: deque[int] = deque()
    while todo or suspects:
        if suspects:
            died, err = _pool_round(fn, tasks, suspects, out, bar, 1)
            for i in died:  # alone on its pool: this task is the one that kills it
                out[i] = on_crash(tasks[i], _death_text(err, "; it died again when rerun alone"))
                bar.update(1)
        else:
            died, _ = _pool_round(fn, tasks, todo, out, bar, workers)
            suspects.extend(died)


def _pool_round(fn: Callable[[Any], Any], tasks: Sequence[Any], queue: deque[int], out: list[Any],
                bar: Any, workers: int) -> tuple[list[int], BaseException | None]:
    """Run the tasks ``queue`` names (consuming it) on one pool, at most ``workers`` in flight.

    Returns ``([], None)`` when the pool survived, else the tasks in flight when it broke and why.
    Submitting no more than there are workers keeps the suspects of a crash to those running."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    running: dict[Any, int] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        while queue or running:
            try:
                while queue and len(running) < workers:
                    running[pool.submit(fn, tasks[queue[0]])] = queue[0]
                    queue.popleft()
            except BrokenProcessPool as e:  # none running yet: the next task is the suspect
                return sorted(running.values()) or [queue.popleft()], e
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = None
            for f in done:
                try:
                    out[running[f]] = f.result()
                except BrokenProcessPool as e:
                    broken = e
                    continue
                del running[f]
                bar.update(1)
            if broken is not None:
                return sorted(running.values()), broken
    return [], None


def _dask():
    try:
        from dask import distributed
    except ImportError as e:
        raise ImportError(
            "executor='dask' needs dask.distributed, which is not installed: pip install 'maiasim[dask]'"
        ) from e
    return distributed


def _connect(distributed: Any, address: str) -> Any:
    """A Client of the scheduler at ``address``, or a one-line ConnectionError naming it.

    Raised outside the ``except`` so the half-made client is not kept alive by the traceback."""
    try:
        return distributed.Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, ValueError) as e:  # a timeout is an OSError, a malformed address a ValueError
        why = str(e).strip() or type(e).__name__
    raise ConnectionError(f"cannot reach the Dask scheduler at {address!r}: {why}")


def _run_dask(fn, tasks, bar, *, max_workers=None, address=None, client=None, cluster_kwargs=None,
              on_crash=_default_crash) -> list:
    distributed = _dask()
    own_client = own_cluster = None
    if client is None:
        if address:
            client = own_client = _connect(distributed, address)
        else:
            # light and safe anywhere (no child processes, so no __main__ guard needed): the point is
            # to exercise the Dask path; for real parallelism give an address (docs/dask.md) or
            # cluster_kwargs={"processes": True}
            kw = {"n_workers": max_workers or 2, "threads_per_worker": 1, "processes": False,
                  "protocol": "tcp", "host": "127.0.0.1", "dashboard_address": None}
            kw.update(cluster_kwargs or {})
            own_cluster = distributed.LocalCluster(**kw)
            client = own_client = distributed.Client(own_cluster)
    try:
        futs = client.map(fn, list(tasks), pure=False)
        index = {f.key: i for i, f in enumerate(futs)}
        out: list[Any] = [None] * len(futs)
        for f in distributed.as_completed(futs):
            i = index[f.key]
            try:
                out[i] = f.result()
            except distributed.KilledWorker as e:  # Dask already retried it on other workers
                out[i] = on_crash(tasks[i], _death_text(e))
            bar.update(1)
        return out
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()


# ---- the sweep ------------------------------------------------------------------------------------


def sweep(scenario: Scenario | str | os.PathLike, grid: Mapping[str, Sequence[Any]], *, replications: int = 1,
          executor: str = "processes", max_workers: int | None = None, address: str | None = None,
          client: Any = None, progress: bool = True, overrides: Mapping[str, Any] | None = None,
          cluster_kwargs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run every combination of ``grid`` (dotted keys to lists of values) ``replications`` times.

    Parameters
    ----------
    scenario: a :class:`Scenario` or the path to its YAML.
    grid: e.g. ``{"deployment.tensor_parallel": [2, 4, 8], "hardware.chip": ["maia200", "h100"]}``;
        the product of the lists is run (first key varies slowest). ``"seed"`` may be swept too.
    replications: runs per point, with independent seeds (see the module docstring).
    executor: ``"serial"``, ``"processes"`` (a local process pool of ``max_workers``, default all
        cores) or ``"dask"`` (``client``, or ``address`` of a scheduler such as ``"tcp://host:8786"``,
        or else a light LocalCluster on 127.0.0.1 with ``max_workers`` (default 2) single-thread workers).
    progress: show a tqdm bar (terminal or notebook).
    overrides: fixed changes applied to every point before the grid's.

    Returns one row per point and replication (see the module docstring); ``df.attrs["grid"]`` holds
    the swept keys.
    """
    if int(replications) < 1:
        raise ScenarioError(f"replications must be >= 1, got {replications}")
    sc = _as_scenario(scenario)
    if overrides:
        sc = apply_overrides(sc, overrides)
    g = _check_grid(sc, grid)
    keys = list(g)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*g.values())]
    tasks, meta = [], []
    for p in points:
        base_seed = int(p.get("seed", sc.seed))
        point = {k: v for k, v in p.items() if k != "seed"}
        for r in range(int(replications)):
            seed = replication_seed(base_seed, r)
            tasks.append((sc, point, seed))
            meta.append({**p, "replication": r, "seed": seed})
    rows = run_tasks(_run_task, tasks, executor=executor, max_workers=max_workers, address=address,
                     client=client, progress=progress, desc=f"sweep {sc.name}",
                     cluster_kwargs=cluster_kwargs, on_crash=_crash_row)
    df = pd.DataFrame([{**m, **r} for m, r in zip(meta, rows, strict=True)])
    df = _tidy(df, keys)
    df.attrs["grid"] = keys
    return df


def _tidy(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Stable column order and dtypes, whatever order the workers finished in."""
    first = [*keys, "replication", "seed", "chips", "replicas", "error"]
    # "seed" may be both a swept key and the replication seed: the replication seed wins
    first = list(dict.fromkeys(first))
    rest = [c for c in df.columns if c not in first]
    df = df[first + rest].copy()
    for c in ("chips", "replicas"):
        if df[c].notna().all():
            df[c] = df[c].astype(int)
    for c in df.columns:
        if c.endswith("slo_met"):
            df[c] = df[c].astype(object).where(df[c].notna(), None)
    df["error"] = df["error"].astype(object).where(df["error"].notna(), None)
    return df.reset_index(drop=True)


# ---- confidence intervals -------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta (modified Lentz; Numerical Recipes 6.4)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def _betai(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student t cumulative distribution with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError("df must be > 0")
    tail = 0.5 * _betai(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student t (inverse of :func:`t_cdf`), by bisection to ~1e-12 relative."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def confidence(df: pd.DataFrame, metrics: Sequence[str] | None = None, level: float = 0.95,
               by: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and Student-t confidence interval of each metric over a sweep's replications.

    One row per grid point (``by``: the swept columns, from ``df.attrs["grid"]`` or else every column
    before ``replication``), with ``n`` (replications that ran without error) and, per metric,
    ``<m>_mean``, ``<m>_std``, ``<m>_ci_low``, ``<m>_ci_high``. The interval is
    ``mean +- t_{(1+level)/2, n-1} * std / sqrt(n)``; it is NaN when fewer than two replications ran.

    It covers only the simulation's sampling noise (arrival and length draws); it says nothing about
    how far the model is from real hardware. Trace-replay workloads redraw nothing, so their
    replications agree and the interval collapses to the point.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if by is None:
        by = df.attrs.get("grid")
        if by is None:
            if "replication" not in df.columns:
                raise ValueError("confidence: cannot tell the grid columns; pass by=[...]")
            by = list(df.columns[: list(df.columns).index("replication")])
    by = [c for c in by if c != "seed"] or []
    metrics = list(metrics) if metrics is not None else [m for m in DEFAULT_CI_METRICS if m in df.columns]
    missing = [m for m in metrics if m not in df.columns]
    if missing:
        raise ValueError(f"confidence: unknown metric(s) {missing}")
    rows = []
    groups = df.groupby(list(by), sort=False, dropna=False) if by else [((), df)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key, strict=True))
        if "error" in g.columns:
            g = g[g["error"].isna()]
        row["n"] = len(g)
        for m in metrics:
            v = pd.to_numeric(g[m], errors="coerce").to_numpy(float)
            v = v[~np.isnan(v)]  # a metric can be NaN in a run that worked (e.g. no price)
            k = len(v)
            mean = float(v.mean()) if k else math.nan
            std = float(v.std(ddof=1)) if k >= 2 else math.nan
            half = t_ppf(0.5 + level / 2.0, k - 1) * std / math.sqrt(k) if k >= 2 else math.nan
            row[f"{m}_mean"] = mean
            row[f"{m}_std"] = std
            row[f"{m}_ci_low"] = mean - half
            row[f"{m}_ci_high"] = mean + half
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["level"] = level
    return out


# ---- command line -------------------------------------------------------------------------------


def parse_grid(items: Sequence[str] | None) -> dict[str, list]:
    """``--grid key=v1,v2`` (values are YAML scalars) or ``key=[v1, v2]`` (a YAML list)."""
    import yaml

    from ..cli import UsageError

    grid: dict[str, list] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--grid {item!r}: expected key=v1,v2, e.g. deployment.tensor_parallel=2,4,8")
        key, text = (s.strip() for s in item.split("=", 1))
        if not key or not text:
            raise UsageError(f"--grid {item!r}: expected key=v1,v2")
        values = None
        if text.startswith("["):
            try:
                parsed = yaml.safe_load(text)
            except yaml.YAMLError:
                parsed = None
            if isinstance(parsed, list):
                values = parsed
        if values is None:
            values = []
            for part in text.split(","):
                part = part.strip()
                try:
                    values.append(yaml.safe_load(part) if part else None)
                except yaml.YAMLError:
                    values.append(part)
        grid.setdefault(key, []).extend(values)
    if not grid:
        raise UsageError("give at least one --grid key=v1,v2")
    return grid


def load_with_sets(path: str, sets: Sequence[str] | None) -> Scenario:
    """Load a scenario file and apply ``--set`` pairs (YAML values)."""
    from ..cli import parse_sets

    return load_scenario(path, parse_sets(list(sets or [])))


SHOW = ("chips", "replicas", "throughput_tok_s", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "slo_attainment",
        "slo_met", "tokens_per_usd", "error")


def format_table(df: pd.DataFrame, cols: Sequence[str]) -> str:
    view = df[[c for c in cols if c in df.columns]].copy()
    if "error" in view.columns:
        view["error"] = view["error"].map(lambda e: "" if e is None or (isinstance(e, float) and math.isnan(e))
                                          else (e if len(e) <= 90 else e[:87] + "..."))
    return view.to_string(index=False, float_format=lambda x: f"{x:,.4g}", na_rep="-")


def add_arguments(p) -> None:
    p.description = ("Run every combination of --grid values (each --replications times) and write one row "
                     "per point and replication.")
    p.add_argument("scenario")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2", required=True,
                   help="a dotted field and its values, e.g. deployment.tensor_parallel=2,4,8 (repeatable)")
    p.add_argument("--replications", "-r", type=int, default=1, help="runs per point with independent seeds (default 1)")
    p.add_argument("--executor", choices=EXECUTORS, default="processes")
    p.add_argument("--workers", type=int, default=None, help="processes or local Dask workers (default: all cores / 2)")
    p.add_argument("--address", default=None, help="Dask scheduler address, e.g. tcp://host:8786 (executor dask)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field for every point")
    p.add_argument("--level", type=float, default=0.95, help="confidence level for the replication summary")
    p.add_argument("-o", "--output", help="CSV file for the full frame")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def command(args) -> int:
    import sys

    from ..cli import UsageError

    if args.replications < 1:
        raise UsageError(f"--replications must be >= 1, got {args.replications}")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if not 0 < args.level < 1:
        raise UsageError(f"--level must be in (0, 1), got {args.level}")
    if args.address and args.executor != "dask":
        raise UsageError("--address needs --executor dask")
    sc = load_with_sets(args.scenario, args.set)
    grid = parse_grid(args.grid)
    try:
        df = sweep(sc, grid, replications=args.replications, executor=args.executor, max_workers=args.workers,
                   address=args.address, progress=not args.quiet and sys.stderr.isatty())
    except (ImportError, ConnectionError) as e:
        raise UsageError(str(e)) from None
    keys = df.attrs["grid"]
    print(f"{sc.name}: {len(df)} runs ({len(df) // args.replications} points x {args.replications} replications), "
          f"executor {args.executor}")
    print(format_table(df, [*keys, "replication", *SHOW]))
    if args.replications > 1:
        ci = confidence(df, metrics=["throughput_tok_s", "ttft_p99_s", "tpot_p99_s", "tokens_per_usd"], level=args.level)
        cols = [*[k for k in keys if k != "seed"], "n"]
        for m in ("throughput_tok_s", "ttft_p99_s", "tpot_p99_s", "tokens_per_usd"):
            ci[m] = [_pm(a, lo, hi) for a, lo, hi in zip(ci[f"{m}_mean"], ci[f"{m}_ci_low"], ci[f"{m}_ci_high"], strict=True)]
            cols.append(m)
        print(f"\nmean +- {args.level:.0%} confidence half-width (Student t) over replications:")
        print(ci[cols].to_string(index=False))
        spread = [f"{m}_std" for m in ("throughput_tok_s", "ttft_p99_s", "tpot_p99_s")]
        if ci["n"].max() >= 2 and (ci[spread].fillna(0) == 0).all().all():
            print("note: the replications agree exactly: trace-replay arrivals redraw nothing between seeds")
    failed = int(df.error.notna().sum())
    if failed:
        print(f"\n{failed} of {len(df)} runs failed (see the error column)")
    if args.output:
        out = Path(args.output)
        if out.parent and not out.parent.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        print(f"wrote {out}")
    return 0


def _pm(mean: float, lo: float, hi: float) -> str:
    if math.isnan(mean):
        return "-"
    if math.isnan(lo):
        return f"{mean:.4g}"
    return f"{mean:.4g} +- {(hi - lo) / 2:.2g}"


# ``maiasim.studies.sweep`` may be re-exported as the function (``ms.sweep(...)``); keep ``ms.sweep.confidence``
# working either way
sweep.confidence = confidence  # type: ignore[attr-defined]
