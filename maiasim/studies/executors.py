"""Where a study's independent simulations run: in this process, on a local process pool, or on a
Dask cluster, with one progress bar and one rule for failures.

A study (a sweep, a capacity plan) is a list of tasks and a module-level function that turns one
task into one row. :func:`run_tasks` maps the function over the tasks on the chosen executor and
returns the rows in task order. A task whose worker process dies (out of memory, a crash) costs
only its own row: the executor reruns the suspects alone, and a task that kills its worker again
becomes ``on_crash(task, why)``, so one bad point never loses a long study.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tqdm.auto import tqdm

from ..errors import ScenarioError

#: the executors :func:`run_tasks` knows
EXECUTORS = ("serial", "processes", "dask")

#: seconds to keep trying a Dask scheduler ``address`` before giving up (Dask's own default is 30)
DASK_CONNECT_TIMEOUT_S = 10.0


def error_text(e: BaseException) -> str:
    """One line for a task that failed: the exception's type and message, without the multi-line
    framing of a scenario validation error, so a failed point fits in one table cell."""
    msg = str(e).strip()
    if isinstance(e, ScenarioError):
        msg = re.sub(r"^invalid scenario( \(\d+ problems\))?:\s*", "", msg)
        msg = re.sub(r"\(top level\): ", "", msg)
        msg = re.sub(r" \(got \{\.\.\.\}\)", "", msg)
    msg = re.sub(r"\s*\n\s*", "; ", msg)
    return f"{type(e).__name__}: {msg}"


def death_text(e: BaseException, note: str = "") -> str:
    """``worker died (<exception type>): <message>`` on one line: the row text of a task whose
    process died, which names the death rather than a Python error the task never raised."""
    return f"worker died ({type(e).__name__}): {' '.join(str(e).split())}{note}"


def _default_crash(task: Any, why: str) -> dict[str, Any]:
    return {"error": why}


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
            out = _run_dask(fn, tasks, bar, max_workers=max_workers, address=address,
                            client=client, cluster_kwargs=cluster_kwargs, on_crash=on_crash)
    return out


# ---- process pools -------------------------------------------------------------------------------


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
                out[i] = on_crash(tasks[i], death_text(err, "; it died again when rerun alone"))
                bar.update(1)
        else:
            died, _ = _pool_round(fn, tasks, todo, out, bar, workers)
            suspects.extend(died)


def _pool_round(fn: Callable[[Any], Any], tasks: Sequence[Any], queue: deque[int],
                out: list[Any], bar: Any,
                workers: int) -> tuple[list[int], BaseException | None]:
    """Run the tasks ``queue`` names (consuming it) on one pool, at most ``workers`` in flight.

    Returns ``([], None)`` when the pool survived, else the tasks in flight when it broke and why.
    Submitting no more than there are workers keeps the suspects of a crash to those running."""
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


# ---- Dask ----------------------------------------------------------------------------------------


def _dask() -> Any:
    """``dask.distributed``, or an ImportError that says how to install it."""
    try:
        from dask import distributed  # lazy: an optional dependency, and slow to import
    except ImportError as e:
        raise ImportError("executor='dask' needs dask.distributed, which is not installed: "
                          "pip install 'maiasim[dask]'") from e
    return distributed


def _connect(distributed: Any, address: str) -> Any:
    """A Client of the scheduler at ``address``, or a one-line ConnectionError naming it.

    Raised outside the ``except`` so the half-made client is not kept alive by the traceback."""
    try:
        return distributed.Client(address, timeout=DASK_CONNECT_TIMEOUT_S)
    except (OSError, ValueError) as e:  # a timeout is an OSError, a malformed address a ValueError
        why = str(e).strip() or type(e).__name__
    raise ConnectionError(f"cannot reach the Dask scheduler at {address!r}: {why}")


def _run_dask(fn: Callable[[Any], Any], tasks: Sequence[Any], bar: Any, *,
              max_workers: int | None = None, address: str | None = None, client: Any = None,
              cluster_kwargs: Mapping[str, Any] | None = None,
              on_crash: Callable[[Any, str], Any] = _default_crash) -> list[Any]:
    """The tasks on ``client``, on the scheduler at ``address``, or on a light local cluster."""
    distributed = _dask()
    own_client = own_cluster = None
    if client is None:
        if address:
            client = own_client = _connect(distributed, address)
        else:
            # light and safe anywhere (no child processes, so no __main__ guard needed): the point
            # is to exercise the Dask path; for real parallelism give an address (docs/dask.md) or
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
                out[i] = on_crash(tasks[i], death_text(e))
            bar.update(1)
        return out
    finally:
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
