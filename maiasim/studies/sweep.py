"""Sweeps: run a grid of scenario variants, with replications, on processes or a Dask cluster.

    import maiasim as ms
    from maiasim.studies.stats import confidence

    sc = ms.load_scenario("scenarios/maia200-llama70b-conv.yaml")
    df = ms.sweep(sc, grid={"deployment.tensor_parallel": [1, 2, 4],
                            "hardware.chip": ["maia200", "h100"]},
                  replications=3, executor="processes")
    ci = confidence(df, metrics=["ttft_p99_s", "output_tokens_per_usd"])  # ms.sweep.confidence

One row per grid point and replication: the swept values (one column per dotted key), then
``replication``, ``seed``, ``chips``, ``replicas``, ``error``, then the ``"all"`` row of
:attr:`Result.summary` and per-workload SLO columns (``<workload>.slo_met``,
``<workload>.slo_attainment``). A point that cannot run (the model does not fit, the chip count is
not divisible by the parallelism, ...) is a row whose ``error`` says why and whose metrics are NaN.
So is a point whose worker process dies (out of memory, a crash) twice, the second time running
alone (``worker died (BrokenProcessPool): ...``); the points that shared the broken pool are rerun.

Seeds: replication 0 runs with the scenario's own seed (so a one-replication sweep reproduces
``simulate``); replication ``r >= 1`` runs with a seed drawn from
``SeedSequence(seed, spawn_key=(r,))``. Every grid point uses the same seeds (common random
numbers), so differences between points are not blurred by different traffic draws.

Overrides go through :meth:`Scenario.with_overrides`, which keeps the fleet consistent: overriding
``deployment.replicas`` re-derives ``hardware.chips``; overriding ``hardware.chips`` or the
parallelism re-derives the replicas, so a tensor-parallel sweep at a fixed ``hardware.chips``
changes the replica count, and a chip count that the parallelism does not divide is an error row.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..api import simulate
from ..errors import ScenarioError
from ..scenario import Scenario, load_scenario
from .executors import error_text, run_tasks
from .stats import confidence


def replication_seed(seed: int, replication: int) -> int:
    """The seed of a replication: the scenario's own for 0, an independent 32-bit draw after
    that, the same for every grid point (common random numbers)."""
    if replication == 0:
        return int(seed)
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(replication),))
    return int(ss.generate_state(1, dtype=np.uint32)[0])


#: words of a ScenarioError that mean the key itself is wrong, whatever the value
_STRUCTURAL = ("unknown field", "not a valid index", "cannot set a field")


def _check_grid(sc: Scenario, grid: Mapping[str, Sequence[Any]]) -> dict[str, list]:
    """Reject a grid that can never run: empty, or a key that names no field (a typo)."""
    if not isinstance(grid, Mapping) or not grid:
        raise ScenarioError("sweep: the grid must be a non-empty mapping of dotted keys to lists "
                            "of values")
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
        if "+" in key:
            n = len(key.split("+"))
            bad = [v for v in vals if isinstance(v, str | bytes) or not isinstance(v, Sequence)
                   or len(v) != n]
            if bad:
                raise ScenarioError(f"sweep: grid[{key!r}] links {n} keys: each value must be a "
                                    f"list of {n} values, got {bad[0]!r}")
        errors = []
        for v in vals:
            try:
                sc.with_overrides(_linked(key, v))
                break
            except ScenarioError as e:
                errors.append(str(e))
        else:
            if all(any(s in msg for s in _STRUCTURAL) for msg in errors):
                raise ScenarioError(f"sweep: grid key {key!r} cannot be set: {errors[0]}")
        out[key] = vals
    return out


def _linked(key: str, value: Any) -> dict[str, Any]:
    """The overrides of one grid value: ``"a+b"`` links keys that vary together, its values are
    pairs (``[["mixed", "mixed"], ["prefill", "decode"]]``), so two fleets are compared without
    the product's meaningless mixes."""
    if "+" not in key:
        return {key: value}
    return dict(zip(key.split("+"), value, strict=True))


# ---- one task -----------------------------------------------------------------------------------


def run_point(sc: Scenario, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    """Simulate one variant and return its row (metrics, or ``error``). Never raises for bad
    points: a failed point is data, not a crashed sweep.

    Module-level so that process pools and Dask workers can pickle it."""
    row: dict[str, Any] = {"chips": np.nan, "replicas": np.nan, "error": None}
    try:
        s = sc.with_overrides({**overrides, "seed": seed})
        row["chips"], row["replicas"] = s.chips, s.replicas
        res = simulate(s)
    except Exception as e:  # a failed point is data, not a crashed sweep
        row["error"] = error_text(e)
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
        s = sc.with_overrides({**overrides, "seed": seed})
        row["chips"], row["replicas"] = s.chips, s.replicas
    except Exception:  # the point's own error would show had it run; the death is the news
        pass
    return row


# ---- the sweep -----------------------------------------------------------------------------------


def sweep(scenario: Scenario | str | os.PathLike, grid: Mapping[str, Sequence[Any]], *,
          replications: int = 1, executor: str = "processes", max_workers: int | None = None,
          address: str | None = None, client: Any = None, progress: bool = True,
          overrides: Mapping[str, Any] | None = None,
          cluster_kwargs: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run every combination of ``grid`` (dotted keys to lists of values) ``replications`` times.

    Parameters
    ----------
    scenario: a :class:`Scenario` or the path to its YAML.
    grid: e.g. ``{"deployment.tensor_parallel": [2, 4, 8], "hardware.chip": ["maia200", "h100"]}``;
        the product of the lists is run (first key varies slowest). ``"seed"`` may be swept too.
        Keys joined by ``+`` vary together: ``{"fleet.pools.0.role+fleet.pools.1.role":
        [["mixed", "mixed"], ["prefill", "decode"]]}`` compares a mixed fleet with a
        disaggregated one of the same chips.
    replications: runs per point, with independent seeds (see the module docstring).
    executor: ``"serial"``, ``"processes"`` (a local process pool of ``max_workers``, default all
        cores) or ``"dask"`` (``client``, or ``address`` of a scheduler such as
        ``"tcp://host:8786"``, or else a light LocalCluster on 127.0.0.1 with ``max_workers``
        (default 2) single-thread workers); see :func:`maiasim.studies.executors.run_tasks`.
    progress: show a tqdm bar (terminal or notebook).
    overrides: fixed changes applied to every point before the grid's.

    Returns one row per point and replication (see the module docstring); ``df.attrs["grid"]``
    holds the swept keys.
    """
    if int(replications) < 1:
        raise ScenarioError(f"replications must be >= 1, got {replications}")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = sc.with_overrides(overrides)
    g = _check_grid(sc, grid)
    keys = list(g)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*g.values())]
    tasks, meta = [], []
    for p in points:
        base_seed = int(p.get("seed", sc.seed))
        point = {kk: vv for k, v in p.items() if k != "seed" for kk, vv in _linked(k, v).items()}
        for r in range(int(replications)):
            seed = replication_seed(base_seed, r)
            tasks.append((sc, point, seed))
            meta.append({**{k: "+".join(map(str, v)) if "+" in k else v for k, v in p.items()},
                         "replication": r, "seed": seed})
    rows = run_tasks(_run_task, tasks, executor=executor, max_workers=max_workers,
                     address=address, client=client, progress=progress, desc=f"sweep {sc.name}",
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


# ``maiasim.sweep`` is this function; ``ms.sweep.confidence(df)`` reaches the interval of its
# result without a second import
sweep.confidence = confidence  # type: ignore[attr-defined]
