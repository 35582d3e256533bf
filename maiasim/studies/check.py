"""Regression check for CI: run a scenario and compare its summary with a committed baseline.

    maiasim check scenarios/maia200-llama70b-conv.yaml \\
        --baseline baselines/maia200-llama70b-conv.csv
    maiasim check SCENARIO --baseline B --tolerance ttft_p99_s=10%,output_tok_s=5% --junit r.xml
    maiasim check SCENARIO --baseline B --update   # write (or rewrite) the baseline
    maiasim check --update-all scenarios baselines  # every scenario (make baselines)
    maiasim check --check-all scenarios baselines   # every scenario against its baseline

Exit status: 0 every metric within tolerance (improvements pass and are shown), 1 a metric got
worse beyond its tolerance (a diff table says which), 2 bad input (missing baseline without
``--update``, bad tolerance syntax, bad scenario, an unwritable ``--junit`` or ``--update`` path,
or a baseline that cannot be trusted: see :mod:`maiasim.studies.baseline`, which fails closed).

Every workload row and the ``"all"`` row of :attr:`Result.summary` is compared, metric by metric,
in the direction that matters (:func:`maiasim.studies.tolerances.direction`, from the column
registry): latencies, cost and rejected/dropped counts are worse when higher; throughput, goodput,
SLO attainment and tokens per dollar or joule are worse when lower; ``slo_met`` must not turn
False. Tolerances and their defaults are in :mod:`maiasim.studies.tolerances`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pandas as pd

from ..api import simulate
from ..errors import UsageError
from ..scenario import Scenario, load_scenario
from .baseline import (
    as_bool,
    as_number,
    bad_baseline,
    check_defined,
    default_baseline,
    fmt_value,
    metric_names,
    read_baseline,
    writable,
    write_baseline,
)
from .tolerances import HIGHER_IS_WORSE, Tolerance, direction, tolerances

#: verdicts that fail a check
FAILING = ("REGRESSED", "MISSING", "UNDEFINED")

# ---- comparison ----------------------------------------------------------------------------------


def compare(baseline: pd.DataFrame, current: pd.DataFrame,
            tol: dict[str, Tolerance | str | None] | None = None) -> pd.DataFrame:
    """One row per workload and metric: baseline, current, change %, tolerance, direction,
    verdict.

    Verdicts: ``ok``, ``improved`` (better by more than the tolerance), ``REGRESSED`` (worse by
    more than the tolerance), ``MISSING`` (in the baseline, gone now: fails), ``UNDEFINED`` (empty
    or NaN in the baseline, a value now: fails, the baseline is stale), ``new`` (no such baseline
    row or column; :func:`check` refuses those baselines before comparing)."""
    tol = tolerances() if tol is None else tol
    base = {str(r["workload"]): r for _, r in baseline.iterrows()}
    cur = {str(r["workload"]): r for _, r in current.iterrows()}
    order = list(dict.fromkeys([*base, *cur]))
    rows = []
    for wl in order:
        b, c = base.get(wl), cur.get(wl)
        for metric, t in tol.items():
            if t is None:
                continue
            row = _compare_one(wl, metric, t, b, c)
            if row is not None:
                rows.append(row)
    return pd.DataFrame(rows, columns=["workload", "metric", "baseline", "current", "change_pct",
                                       "tolerance", "direction", "verdict"])


def _compare_one(wl: str, metric: str, t: Tolerance | str, b: pd.Series | None,
                 c: pd.Series | None) -> dict[str, Any] | None:
    """The comparison row of one workload's metric (None: neither side has it)."""
    d = direction(metric)
    has_b = b is not None and metric in b.index
    has_c = c is not None and metric in c.index
    row = {"workload": wl, "metric": metric, "baseline": b[metric] if has_b else None,
           "current": c[metric] if has_c else None, "change_pct": math.nan,
           "tolerance": str(t), "direction": d}
    if metric == "slo_met":
        bv, cv = as_bool(row["baseline"]), as_bool(row["current"])
        row["baseline"], row["current"] = bv, cv
        if bv is None and cv is None:
            return None  # no SLO on this workload, then or now
        if bv is not None and not has_c:
            row["verdict"] = "MISSING"
        elif bv is True and cv is not True:
            row["verdict"] = "REGRESSED"
        elif bv is False and cv is True:
            row["verdict"] = "improved"
        elif bv is None:
            row["verdict"] = "UNDEFINED" if has_b else "new"
        else:
            row["verdict"] = "ok"
        return row
    bv, cv = as_number(row["baseline"]), as_number(row["current"])
    row["baseline"], row["current"] = bv, cv
    if not has_b and not has_c:
        return None
    if math.isnan(bv):
        row["verdict"] = "ok" if math.isnan(cv) else ("UNDEFINED" if has_b else "new")
        return row
    if math.isnan(cv):
        row["verdict"] = "MISSING"
        return row
    sign = 1.0 if d == HIGHER_IS_WORSE else -1.0
    delta = cv - bv
    if bv != 0:
        row["change_pct"] = delta / abs(bv) * 100.0
    elif delta != 0:
        row["change_pct"] = math.copysign(math.inf, delta)
    worse = sign * delta  # > 0: worse, in the metric's unit
    limit = t.value * abs(bv) if t.relative else t.value
    eps = 1e-12 * max(abs(bv), abs(cv), 1e-300)
    if worse > limit + eps:
        row["verdict"] = "REGRESSED"
    elif -worse > limit + eps:
        row["verdict"] = "improved"
    else:
        row["verdict"] = "ok"
    return row


def _changed(rows: pd.DataFrame) -> pd.Series:
    """Rows whose value moved by more than float noise (1e-9 relative)."""
    return rows.change_pct.fillna(0).abs().gt(1e-7)


def _fmt_pct(v: Any) -> str:
    f = as_number(v)
    if math.isnan(f):
        return "-"
    if math.isinf(f):
        return "+inf%" if f > 0 else "-inf%"
    return f"{f:+.2f}%" if abs(f) >= 0.005 else "0.00%"


# ---- the report ----------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """The outcome of one check, for a CI log and a JUnit report: ``rows`` (see :func:`compare`),
    ``passed``, ``table()``, ``headline()``, ``to_junit()``."""

    scenario: str
    baseline: str
    rows: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> pd.DataFrame:
        """The rows whose verdict fails the check."""
        return self.rows[self.rows.verdict.isin(FAILING)]

    @property
    def passed(self) -> bool:
        """True when no row failed (improvements pass)."""
        return len(self.failures) == 0

    def table(self, show_all: bool = False) -> str:
        """The diff table: failing, improved and changed rows (every row with ``show_all``)."""
        r = self.rows
        if not show_all:
            changed = _changed(r) | (r.verdict != "ok")
            r = r[changed]
        if not len(r):
            return "(no metric changed)"
        view = pd.DataFrame({
            "workload": r.workload, "metric": r.metric,
            "baseline": [fmt_value(v) for v in r.baseline],
            "current": [fmt_value(v) for v in r.current],
            "change": [_fmt_pct(v) for v in r.change_pct], "tolerance": r.tolerance,
            "direction": r.direction, "verdict": r.verdict,
        })
        return view.to_string(index=False)

    def headline(self) -> str:
        """One line: PASS or FAIL, how many checks, and which regressed."""
        n = len(self.rows)
        bad = self.failures
        changed = int(_changed(self.rows).sum())
        if self.passed:
            imp = int((self.rows.verdict == "improved").sum())
            return (f"{self.scenario}: PASS, {n} checks within tolerance of {self.baseline}"
                    f" ({changed} changed, {imp} improved beyond tolerance)")
        what = ", ".join(f"{w}.{m}" for w, m in zip(bad.workload, bad.metric, strict=True))
        return (f"{self.scenario}: FAIL, {len(bad)} of {n} checks regressed against "
                f"{self.baseline}: {what}")

    def to_junit(self, path: str | os.PathLike | None = None) -> ET.ElementTree:
        """JUnit XML: one testcase per metric per workload; regressions are failures."""
        return junit([self], path)


def junit(reports: list[CheckReport], path: str | os.PathLike | None = None) -> ET.ElementTree:
    """JUnit XML of several checks (one testsuite per scenario), so a CI server lists each
    metric as a test; written to ``path`` when given."""
    root = ET.Element("testsuites", name="maiasim check")
    total = fails = 0
    for rep in reports:
        suite = ET.SubElement(root, "testsuite", name=f"maiasim.studies.check.{rep.scenario}",
                              tests=str(len(rep.rows)), failures=str(len(rep.failures)),
                              errors="0", skipped="0", time="0")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="baseline", value=str(rep.baseline))
        for _, r in rep.rows.iterrows():
            case = ET.SubElement(suite, "testcase",
                                 classname=f"maiasim.studies.check.{rep.scenario}.{r.workload}",
                                 name=str(r.metric), time="0")
            detail = (f"{r.workload} {r.metric}: baseline {fmt_value(r.baseline)}, current "
                      f"{fmt_value(r.current)}, change {_fmt_pct(r.change_pct)}, tolerance "
                      f"{r.tolerance} ({r.direction}): {r.verdict}")
            if r.verdict in FAILING:
                f = ET.SubElement(case, "failure", message=detail, type=str(r.verdict).lower())
                f.text = detail
            else:
                ET.SubElement(case, "system-out").text = detail
        ET.SubElement(suite, "system-out").text = rep.headline() + "\n" + rep.table(show_all=True)
        total += len(rep.rows)
        fails += len(rep.failures)
    root.set("tests", str(total))
    root.set("failures", str(fails))
    root.set("errors", "0")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    if path is not None:
        p = writable(path, "--junit")
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tree.write(p, encoding="utf-8", xml_declaration=True)
        except OSError as e:
            raise UsageError(f"--junit {p} cannot be written ({e.strerror or e})") from None
    return tree


# ---- running -------------------------------------------------------------------------------------


def _scenario(scenario: Scenario | str | os.PathLike, sets: dict | None) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(sets)
    return load_scenario(scenario, sets or None)


def check(scenario: Scenario | str | os.PathLike, baseline: str | os.PathLike,
          tolerance: Any = None, sets: dict | None = None) -> CheckReport:
    """Simulate ``scenario`` (with ``sets`` overrides) and compare its summary with ``baseline``.

    ``tolerance`` overrides the default tolerances per metric (``{"ttft_p99_s": "20%"}`` or
    ``["ttft_p99_s=20%"]``). Raises UsageError (fail closed) when the baseline is missing,
    unreadable, corrupt, another scenario's, lacks a compared metric, or is NaN where this run
    has a value."""
    tol = tolerances(tolerance)
    sc = _scenario(scenario, sets)  # bad input first, before any simulation
    p = Path(baseline)
    base, meta = read_baseline(p, sc)
    lacking = [m for m, t in tol.items() if t is not None and m not in base.columns]
    if lacking:
        raise bad_baseline(p, f"lacks {metric_names(lacking)}, given a --tolerance")
    res = simulate(sc)
    check_defined(p, base, res.summary)
    notes = []
    if "set" in meta and meta["set"] != (sets or {}):
        notes.append(f"note: the baseline was written with --set {meta['set']}, this run has "
                     f"{sets or {}}")
    return CheckReport(sc.name, str(baseline), compare(base, res.summary, tol), tuple(notes))


def update(scenario: Scenario | str | os.PathLike, baseline: str | os.PathLike,
           sets: dict | None = None) -> Path:
    """Simulate ``scenario`` and write its summary as the baseline."""
    sc = _scenario(scenario, sets)
    writable(baseline, "baseline")
    return write_baseline(simulate(sc).summary, baseline, sc.name, sets)


def _scenario_files(directory: str | os.PathLike) -> list[Path]:
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"not a directory: {d}")
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
    if not files:
        raise UsageError(f"no scenario files (*.yaml) in {d}")
    return files


def update_all(scenarios: str | os.PathLike, baselines: str | os.PathLike) -> list[Path]:
    """Write ``baselines/<stem>.csv`` for every ``scenarios/*.yaml``."""
    return [update(f, default_baseline(f, baselines)) for f in _scenario_files(scenarios)]


def check_all(scenarios: str | os.PathLike, baselines: str | os.PathLike,
              tolerance: Any = None) -> list[CheckReport]:
    """Check every ``scenarios/*.yaml`` against ``baselines/<stem>.csv``."""
    return [check(f, default_baseline(f, baselines), tolerance)
            for f in _scenario_files(scenarios)]
