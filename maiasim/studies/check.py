"""Regression check for CI: run a scenario and compare its summary with a committed baseline.

    maiasim check scenarios/maia200-llama70b-conv.yaml --baseline baselines/maia200-llama70b-conv.csv
    maiasim check SCENARIO --baseline B --tolerance ttft_p99_s=10%,tokens_per_usd=5% --junit report.xml
    maiasim check SCENARIO --baseline B --update          # write (or rewrite) the baseline
    python -m maiasim.studies.check --update-all scenarios baselines   # every scenario (make baselines)
    python -m maiasim.studies.check --check-all scenarios baselines    # every scenario against its baseline

Exit status: 0 every metric within tolerance (improvements pass and are shown), 1 a metric got worse
beyond its tolerance (a diff table says which), 2 bad input (missing baseline without ``--update``,
bad tolerance syntax, bad scenario, an unwritable ``--junit`` or ``--update`` path).

The check fails closed: a baseline that cannot be trusted is bad input (exit 2, one line naming the
file and the fault), never a pass and never a regression. That is a baseline that is empty, binary
or not UTF-8, truncated (no final newline, a short row, no rows), without the header
:func:`write_baseline` writes, written for another scenario, with missing, extra or repeated
workload rows, lacking a compared metric (every :data:`DEFAULT_TOLERANCES` metric is required), or
holding a value that is not a number or is infinite. An empty (NaN) baseline value is allowed only
where the metric is undefined in this run too (tpot with no completed request, ``slo_met`` with no
SLO): NaN against a number means the baseline is stale or corrupt, not that the metric is "new".

Every workload row and the ``"all"`` row of :attr:`Result.summary` is compared, metric by metric,
in the direction that matters: latencies, cost and rejected/dropped counts are worse when higher;
throughput, goodput, SLO attainment and tokens per dollar or joule are worse when lower; ``slo_met``
must not turn False. A tolerance is relative (``10%``: of the baseline value) or absolute (``0.01``:
in the metric's unit), or ``off``. Defaults are in :data:`DEFAULT_TOLERANCES`.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from ..api import simulate
from ..scenario.schema import Scenario, ScenarioError, load_scenario

#: the metrics compared by default and how much each may get worse. The simulation is deterministic
#: (same scenario and seed, same frames), so any change comes from a change of code, calibration or
#: catalog; the tolerances say how large a change must be to count as a regression: a tenth for
#: latency percentiles (p99 moves in steps when one request crosses), a twentieth for throughput and
#: economics, one percentage point of SLO attainment, and no new rejected or dropped request.
DEFAULT_TOLERANCES: dict[str, str] = {
    "throughput_tok_s": "5%",
    "goodput_req_s": "5%",
    "ttft_p50_s": "10%",
    "ttft_p99_s": "10%",
    "tpot_p50_s": "10%",
    "tpot_p99_s": "10%",
    "e2e_p50_s": "10%",
    "e2e_p99_s": "10%",
    "slo_attainment": "0.01",
    "slo_met": "must stay true",  # True in the baseline must not turn False
    "tokens_per_usd": "5%",
    "usd_per_mtok": "5%",
    "tokens_per_joule": "5%",
    "rejected": "0",
    "dropped": "0",
    "in_flight": "0",
}

LOWER_IS_WORSE = frozenset({"throughput_tok_s", "prompt_tok_s", "request_rate_per_s", "goodput_req_s",
                            "slo_attainment", "tokens_per_usd", "tokens_per_joule", "completed"})
HIGHER_IS_WORSE = frozenset({"cost_usd", "usd_per_mtok", "energy_j", "rejected", "dropped", "in_flight",
                             "preemptions"})

BASELINE_HEADER = "# maiasim check baseline"
REGENERATE = "python -m maiasim.studies.check --update-all scenarios baselines"


def _usage(msg: str) -> Exception:
    from ..cli import UsageError

    return UsageError(msg)


def direction(metric: str) -> str | None:
    """``"higher is worse"``, ``"lower is worse"``, ``"must stay true"`` or None (not comparable)."""
    if metric == "slo_met":
        return "must stay true"
    if metric in LOWER_IS_WORSE:
        return "lower is worse"
    if metric in HIGHER_IS_WORSE or metric.endswith("_s"):
        return "higher is worse"
    return None


# ---- tolerances ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How far a metric may move in its worse direction: ``value`` as a fraction or in its unit."""

    value: float
    relative: bool

    @classmethod
    def parse(cls, text: Any) -> Tolerance:
        if isinstance(text, Tolerance):
            return text
        if isinstance(text, int | float) and not isinstance(text, bool):
            v, rel = float(text), False
        else:
            s = str(text).strip()
            rel = s.endswith("%")
            try:
                v = float(s[:-1] if rel else s)
            except ValueError:
                raise _usage(f"tolerance {text!r}: expected a percentage like 10% or an absolute number like 0.05") from None
            v = v / 100.0 if rel else v
        if not v >= 0:  # also rejects NaN
            raise _usage(f"tolerance {text!r} must be >= 0")
        return cls(v, rel)

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


def parse_tolerances(items: Any) -> dict[str, Tolerance | None]:
    """``["ttft_p99_s=10%,tokens_per_usd=5%", "e2e_p99_s=off"]`` or a dict -> {metric: Tolerance or None}.

    None (``off``) drops a default metric from the comparison."""
    pairs: list[tuple[str, Any]] = []
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        for item in items or []:
            for part in str(item).split(","):
                part = part.strip()
                if not part:
                    continue
                if "=" not in part:
                    raise _usage(f"--tolerance {part!r}: expected metric=10% or metric=0.05, e.g. ttft_p99_s=10%")
                k, v = part.split("=", 1)
                pairs.append((k.strip(), v.strip()))
    out: dict[str, Tolerance | None] = {}
    for metric, v in pairs:
        d = direction(metric)
        if d is None:
            known = ", ".join(sorted(DEFAULT_TOLERANCES))
            raise _usage(f"--tolerance {metric!r}: not a comparable summary metric (e.g. {known})")
        if v is None or str(v).strip().lower() in ("off", "none", "skip"):
            out[metric] = None
        elif metric == "slo_met":
            raise _usage("slo_met takes no tolerance (it must stay true); use slo_met=off to skip it")
        else:
            out[metric] = Tolerance.parse(v)
    return out


STAY_TRUE = "must stay true"


def tolerances(overrides: Any = None) -> dict[str, Tolerance | str | None]:
    """The defaults with ``overrides`` applied (``off`` removes a metric)."""
    tol: dict[str, Tolerance | str | None] = {m: (STAY_TRUE if m == "slo_met" else Tolerance.parse(v))
                                              for m, v in DEFAULT_TOLERANCES.items()}
    tol.update(parse_tolerances(overrides) if overrides else {})
    return tol


# ---- baselines -------------------------------------------------------------------------------------


def write_baseline(summary: pd.DataFrame, path: str | os.PathLike, scenario: str = "", sets: dict | None = None) -> Path:
    """Write a summary frame as a baseline CSV (a comment header, then the frame at full precision)."""
    p = writable(path, "baseline")
    head = [f"{BASELINE_HEADER} for scenario {scenario!r}; regenerate with: {REGENERATE}",
            f"# set: {json.dumps(sets or {}, sort_keys=True)}"]
    body = summary.to_csv(index=False, lineterminator="\n")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(head) + "\n" + body, encoding="utf-8")
    except OSError as e:
        raise _usage(f"baseline {p} cannot be written ({e.strerror or e})") from None
    return p


def writable(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path, or UsageError when no file can be written there. Called before a
    simulation, so that a bad path costs no run and never ends in a traceback after one."""
    p = Path(path)
    if p.is_dir():
        raise _usage(f"{what} {p} is a directory; give the path of a file")
    if p.exists() and not os.access(p, os.W_OK):
        raise _usage(f"{what} {p} cannot be written: no permission to write it")
    above = next((a for a in p.parents if a.exists()), None)  # the nearest existing folder above
    if above is not None and not above.is_dir():
        raise _usage(f"{what} {p} cannot be written: {above} is a file, not a directory")
    if above is not None and not os.access(above, os.W_OK | os.X_OK):
        raise _usage(f"{what} {p} cannot be written: no permission to write in {above}")
    return p


def read_baseline(path: str | os.PathLike,
                  scenario: Scenario | None = None) -> tuple[pd.DataFrame, dict]:
    """(summary frame, header facts ``scenario`` and ``set``) of a baseline CSV, validated.

    Fails closed: anything but a complete baseline as :func:`write_baseline` writes it raises
    UsageError (exit 2) naming the file and the fault, so that a corrupt file can neither pass a
    run nor pose as a regression. With ``scenario``, the header must name that scenario and the
    rows must be its workloads and ``all``."""
    p = Path(path)
    head, body = _split_header(p, _baseline_text(p))
    meta = _header_facts(p, head)
    df = _frame(p, body, len(head))
    if scenario is not None:
        _match_scenario(p, df, meta, scenario)
    return df, meta


#: columns of a baseline that do not hold numbers; every other column must
TEXT_COLUMNS = frozenset({"workload", "slo_met"})
_HEADER = re.compile(re.escape(BASELINE_HEADER) + r" for scenario (.+); regenerate with: ")


def _bad(p: Path, what: str) -> Exception:
    """The usage error for a baseline that cannot be trusted: the file, the fault, the remedy."""
    return _usage(f"baseline {p} {what}; regenerate it with --update ({REGENERATE} for all)")


def _baseline_text(p: Path) -> str:
    """The file as text: a missing, unreadable, empty, binary or cut-off file is refused here."""
    if p.is_dir():
        raise _usage(f"baseline {p} is a directory, not a baseline CSV")
    if not p.exists():
        raise _usage(f"baseline not found: {p} (create it with --update)")
    if not p.is_file():
        raise _usage(f"baseline {p} is not a regular file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise _usage(f"baseline {p} cannot be read ({e.strerror or e})") from None
    if not data.strip():
        raise _bad(p, "is empty")
    if b"\0" in data:
        raise _bad(p, "is a binary file (NUL bytes), not UTF-8 CSV text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = f"byte 0x{data[e.start]:02x} at offset {e.start}"
        raise _bad(p, f"is a binary file or not UTF-8 text ({where})") from None
    if not text.endswith("\n"):
        raise _bad(p, "is truncated: its last line has no newline (an interrupted write?)")
    return text


def _split_header(p: Path, text: str) -> tuple[list[str], list[str]]:
    """(comment header lines, CSV lines): the header must be the one write_baseline writes."""
    lines = text.splitlines()
    n = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    if not n or not _HEADER.match(lines[0]):
        raise _bad(p, f"lacks the header line '{BASELINE_HEADER} for scenario ...'")
    if not any(line.strip() for line in lines[n:]):
        raise _bad(p, "has no column names and no rows, only its comment header (truncated)")
    return lines[:n], lines[n:]


def _header_facts(p: Path, head: list[str]) -> dict[str, Any]:
    """``scenario`` (from the first header line) and ``set`` (the --set overrides, JSON)."""
    try:
        name = ast.literal_eval(_HEADER.match(head[0]).group(1))
    except (ValueError, SyntaxError):
        name = None
    if not isinstance(name, str):
        raise _bad(p, f"names no readable scenario in its header: {head[0][:80]!r}")
    sets = [line for line in head if line.startswith("# set:")]
    if len(sets) != 1:
        raise _bad(p, "needs one '# set: {...}' header line (the --set overrides of the run)")
    try:
        overrides = json.loads(sets[0].split(":", 1)[1])
    except json.JSONDecodeError as e:
        raise _bad(p, f"has a '# set:' header line that is not JSON ({e.msg})") from None
    if not isinstance(overrides, dict):
        raise _bad(p, "has a '# set:' header line that is not a JSON object")
    return {"scenario": name, "set": overrides}


def _frame(p: Path, body: list[str], offset: int) -> pd.DataFrame:
    """The CSV lines as a frame: every row complete, every required column once, values valid."""
    reader = csv.reader(body)
    try:
        rows = [(offset + reader.line_num, r) for r in reader if r]
    except csv.Error as e:
        raise _bad(p, f"is not a readable CSV ({e})") from None
    cols = rows[0][1]
    dup = next((c for c in cols if cols.count(c) > 1), None)
    if dup is not None:
        raise _bad(p, f"is corrupt: column {dup!r} appears twice")
    if "workload" not in cols:
        raise _bad(p, "has no 'workload' column (is it a maiasim summary?)")
    lacking = [m for m in DEFAULT_TOLERANCES if m not in cols]
    if lacking:
        raise _bad(p, f"lacks {_metrics(lacking)} (compared by default)")
    if len(rows) == 1:
        raise _bad(p, "has column names but no rows (truncated)")
    short = next(((n, len(r)) for n, r in rows if len(r) != len(cols)), None)
    if short is not None:
        n, k = short
        raise _bad(p, f"is truncated or corrupt: line {n} has {k} fields, expected {len(cols)}")
    try:
        df = pd.read_csv(io.StringIO("\n".join(body)), keep_default_na=True)
    except (ValueError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
        raise _bad(p, f"is not a readable CSV ({' '.join(str(e).split())})") from None
    df["workload"] = [r[cols.index("workload")] for _, r in rows[1:]]  # names as written
    _check_values(p, df)
    return df


def _metrics(names: list[str]) -> str:
    return f"metric{'s' * (len(names) > 1)} {', '.join(names)}"


def _check_values(p: Path, df: pd.DataFrame) -> None:
    """Workload names once each; numbers finite or empty (NaN: undefined, see
    :func:`_check_defined`); slo_met True, False or empty. Converts numeric columns in place."""
    names = list(df.workload)
    for w in names:
        if not w.strip():
            raise _bad(p, "is corrupt: a workload row has no name")
        if names.count(w) > 1:
            raise _bad(p, f"is corrupt: workload row {w!r} appears twice")
    for col in df.columns:
        if col in TEXT_COLUMNS:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        bad = (num.isna() & df[col].notna()) | np.isinf(num.astype(float))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise _bad(p, f"has {names[i]}.{col} = {str(df[col].iloc[i])!r}: not a finite number")
        df[col] = num
    for w, v in zip(names, df.slo_met, strict=True):  # slo_met is a required column
        if _as_bool(v) is None and not _undefined(v):
            raise _bad(p, f"has {w}.slo_met = {str(v)!r}: not True, False or empty (no SLO)")


def _match_scenario(p: Path, df: pd.DataFrame, meta: dict, sc: Scenario) -> None:
    """The baseline must be this scenario's: its header names it, its rows are its workloads."""
    if meta["scenario"] != sc.name:
        raise _usage(f"baseline {p} belongs to scenario {meta['scenario']!r}, not {sc.name!r}; "
                     f"give {sc.name!r} its own baseline, or rewrite this one for it: "
                     f"maiasim check <scenario> --baseline {p} --update")
    want = [w.name for w in sc.workload] + ["all"]
    missing = [w for w in want if w not in set(df.workload)]
    extra = [w for w in df.workload if w not in want]
    if missing or extra:
        what = "; ".join([*(["missing " + ", ".join(missing)] if missing else []),
                          *(["unexpected " + ", ".join(extra)] if extra else [])])
        raise _bad(p, f"does not match the workloads of scenario {sc.name!r} ({what}; "
                      f"expected rows: {', '.join(want)})")


def _check_defined(p: Path, base: pd.DataFrame, current: pd.DataFrame) -> None:
    """A baseline value may be empty (NaN, or no slo_met) only where this run's is undefined too.

    The summary leaves a metric NaN where it has no value (tpot when no request got a second
    token, slo_met without an SLO); an empty baseline value against a number now means a stale or
    corrupt baseline, which :func:`compare` would otherwise meet as a metric without a baseline."""
    cur = {str(r["workload"]): r for r in current.to_dict("records")}
    cols = [c for c in base.columns if c in current.columns and c != "workload"]
    undefined = []
    for b in base.to_dict("records"):
        c = cur.get(str(b["workload"]))
        for col in cols if c is not None else []:
            if _undefined(b[col]) and not _undefined(c[col]):
                undefined.append(f"{b['workload']}.{col} (now {_fmt(c[col])})")
    if undefined:
        more = f" and {len(undefined) - 3} more" if len(undefined) > 3 else ""
        raise _bad(p, f"is empty (NaN) at {', '.join(undefined[:3])}{more}, values this run "
                      "defines: NaN is allowed only where the metric is undefined now too")


def _undefined(v) -> bool:
    """None or NaN: the summary's mark for a metric without a value (no requests, no SLO)."""
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


# ---- comparison ------------------------------------------------------------------------------------


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def _as_bool(v) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def compare(baseline: pd.DataFrame, current: pd.DataFrame, tol: dict[str, Tolerance | str | None] | None = None) -> pd.DataFrame:
    """One row per workload and metric: baseline, current, change %, tolerance, direction, verdict.

    Verdicts: ``ok``, ``improved`` (better by more than the tolerance), ``REGRESSED`` (worse by more
    than the tolerance), ``MISSING`` (in the baseline, gone now: fails), ``UNDEFINED`` (empty or NaN
    in the baseline, a value now: fails, the baseline is stale), ``new`` (no such baseline row or
    column; :func:`check` refuses those baselines before comparing)."""
    tol = tolerances() if tol is None else tol
    base = {str(r["workload"]): r for _, r in baseline.iterrows()}
    cur = {str(r["workload"]): r for _, r in current.iterrows()}
    order = list(dict.fromkeys([*base, *cur]))
    rows = []
    for wl in order:
        b, c = base.get(wl), cur.get(wl)
        for metric in tol:
            t = tol[metric]
            if t is None:
                continue
            d = direction(metric)
            has_b = b is not None and metric in b.index
            has_c = c is not None and metric in c.index
            row = {"workload": wl, "metric": metric, "baseline": b[metric] if has_b else None,
                   "current": c[metric] if has_c else None, "change_pct": math.nan,
                   "tolerance": str(t), "direction": d}
            if metric == "slo_met":
                bv = _as_bool(row["baseline"])
                cv = _as_bool(row["current"])
                row["baseline"], row["current"] = bv, cv
                if bv is None and cv is None:
                    continue  # no SLO on this workload, then or now
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
                rows.append(row)
                continue
            bv, cv = _num(row["baseline"]), _num(row["current"])
            row["baseline"], row["current"] = bv, cv
            if not has_b and not has_c:
                continue
            if math.isnan(bv):
                row["verdict"] = "ok" if math.isnan(cv) else ("UNDEFINED" if has_b else "new")
            elif math.isnan(cv):
                row["verdict"] = "MISSING"
            else:
                sign = 1.0 if d == "higher is worse" else -1.0
                delta = cv - bv
                if bv != 0:
                    row["change_pct"] = delta / abs(bv) * 100.0
                elif delta != 0:
                    row["change_pct"] = math.copysign(math.inf, delta)
                worse = sign * delta  # > 0: worse, in the metric's unit
                if t.relative:
                    limit = t.value * abs(bv)
                else:
                    limit = t.value
                eps = 1e-12 * max(abs(bv), abs(cv), 1e-300)
                if worse > limit + eps:
                    row["verdict"] = "REGRESSED"
                elif -worse > limit + eps:
                    row["verdict"] = "improved"
                else:
                    row["verdict"] = "ok"
            rows.append(row)
    return pd.DataFrame(rows, columns=["workload", "metric", "baseline", "current", "change_pct", "tolerance",
                                       "direction", "verdict"])


FAILING = ("REGRESSED", "MISSING", "UNDEFINED")


def _changed(rows: pd.DataFrame) -> pd.Series:
    """Rows whose value moved by more than float noise (1e-9 relative)."""
    return rows.change_pct.fillna(0).abs().gt(1e-7)


@dataclass
class CheckReport:
    """The outcome of one check: ``rows`` (see :func:`compare`), ``passed``, ``table()``, ``to_junit()``."""

    scenario: str
    baseline: str
    rows: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def failures(self) -> pd.DataFrame:
        return self.rows[self.rows.verdict.isin(FAILING)]

    @property
    def passed(self) -> bool:
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
            "baseline": [_fmt(v) for v in r.baseline], "current": [_fmt(v) for v in r.current],
            "change": [_fmt_pct(v) for v in r.change_pct], "tolerance": r.tolerance,
            "direction": r.direction, "verdict": r.verdict,
        })
        return view.to_string(index=False)

    def headline(self) -> str:
        n = len(self.rows)
        bad = self.failures
        changed = int(_changed(self.rows).sum())
        if self.passed:
            imp = int((self.rows.verdict == "improved").sum())
            return (f"{self.scenario}: PASS, {n} checks within tolerance of {self.baseline}"
                    f" ({changed} changed, {imp} improved beyond tolerance)")
        what = ", ".join(f"{w}.{m}" for w, m in zip(bad.workload, bad.metric, strict=True))
        return f"{self.scenario}: FAIL, {len(bad)} of {n} checks regressed against {self.baseline}: {what}"

    def to_junit(self, path: str | os.PathLike | None = None) -> ET.ElementTree:
        """JUnit XML: one testcase per metric per workload; regressions are failures."""
        return junit([self], path)


def junit(reports: list[CheckReport], path: str | os.PathLike | None = None) -> ET.ElementTree:
    root = ET.Element("testsuites", name="maiasim check")
    total = fails = 0
    for rep in reports:
        suite = ET.SubElement(root, "testsuite", name=f"maiasim.studies.check.{rep.scenario}",
                              tests=str(len(rep.rows)), failures=str(len(rep.failures)), errors="0",
                              skipped="0", time="0")
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="baseline", value=str(rep.baseline))
        for _, r in rep.rows.iterrows():
            case = ET.SubElement(suite, "testcase", classname=f"maiasim.studies.check.{rep.scenario}.{r.workload}",
                                 name=str(r.metric), time="0")
            detail = (f"{r.workload} {r.metric}: baseline {_fmt(r.baseline)}, current {_fmt(r.current)}, "
                      f"change {_fmt_pct(r.change_pct)}, tolerance {r.tolerance} ({r.direction}): {r.verdict}")
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
            raise _usage(f"--junit {p} cannot be written ({e.strerror or e})") from None
    return tree


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    f = _num(v)
    if math.isnan(f):
        return "-"
    return f"{f:.4g}"


def _fmt_pct(v) -> str:
    f = _num(v)
    if math.isnan(f):
        return "-"
    if math.isinf(f):
        return "+inf%" if f > 0 else "-inf%"
    return f"{f:+.2f}%" if abs(f) >= 0.005 else "0.00%"


# ---- running -----------------------------------------------------------------------------------------


def _scenario(scenario: Scenario | str | os.PathLike, sets: dict | None) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(sets) if sets else scenario
    return load_scenario(scenario, sets or None)


def default_baseline(scenario_path: str | os.PathLike, directory: str | os.PathLike = "baselines") -> Path:
    return Path(directory) / f"{Path(scenario_path).stem}.csv"


def check(scenario: Scenario | str | os.PathLike, baseline: str | os.PathLike, tolerance: Any = None,
          sets: dict | None = None) -> CheckReport:
    """Simulate ``scenario`` (with ``sets`` overrides) and compare its summary with ``baseline``.

    ``tolerance`` overrides :data:`DEFAULT_TOLERANCES` per metric (``{"ttft_p99_s": "20%"}`` or
    ``["ttft_p99_s=20%"]``). Raises UsageError (fail closed) when the baseline is missing,
    unreadable, corrupt, another scenario's, lacks a compared metric, or is NaN where this run
    has a value."""
    tol = tolerances(tolerance)
    sc = _scenario(scenario, sets)  # bad input first, before any simulation
    p = Path(baseline)
    base, meta = read_baseline(p, sc)
    lacking = [m for m, t in tol.items() if t is not None and m not in base.columns]
    if lacking:
        raise _bad(p, f"lacks {_metrics(lacking)}, given a --tolerance")
    res = simulate(sc)
    _check_defined(p, base, res.summary)
    notes = []
    if "set" in meta and meta["set"] != (sets or {}):
        notes.append(f"note: the baseline was written with --set {meta['set']}, this run has {sets or {}}")
    return CheckReport(sc.name, str(baseline), compare(base, res.summary, tol), tuple(notes))


def update(scenario: Scenario | str | os.PathLike, baseline: str | os.PathLike, sets: dict | None = None) -> Path:
    """Simulate ``scenario`` and write its summary as the baseline."""
    sc = _scenario(scenario, sets)
    writable(baseline, "baseline")
    return write_baseline(simulate(sc).summary, baseline, sc.name, sets)


def _scenario_files(directory: str | os.PathLike) -> list[Path]:
    d = Path(directory)
    if not d.is_dir():
        raise _usage(f"not a directory: {d}")
    files = sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
    if not files:
        raise _usage(f"no scenario files (*.yaml) in {d}")
    return files


def update_all(scenarios: str | os.PathLike, baselines: str | os.PathLike) -> list[Path]:
    """Write ``baselines/<stem>.csv`` for every ``scenarios/*.yaml``."""
    return [update(f, default_baseline(f, baselines)) for f in _scenario_files(scenarios)]


def check_all(scenarios: str | os.PathLike, baselines: str | os.PathLike, tolerance: Any = None) -> list[CheckReport]:
    """Check every ``scenarios/*.yaml`` against ``baselines/<stem>.csv``."""
    return [check(f, default_baseline(f, baselines), tolerance) for f in _scenario_files(scenarios)]


# ---- command line -----------------------------------------------------------------------------------


def add_arguments(p) -> None:
    p.description = ("Run a scenario and compare its summary with a baseline CSV. Exit 0 within tolerance, "
                     "1 when a metric got worse beyond its tolerance, 2 on bad input.")
    p.add_argument("scenario", nargs="?", help="scenario YAML (not with --update-all/--check-all)")
    p.add_argument("--baseline", "-b", help="baseline CSV (default: baselines/<scenario stem>.csv)")
    p.add_argument("--tolerance", "-t", action="append", metavar="METRIC=TOL[,...]",
                   help="e.g. ttft_p99_s=10%%,tokens_per_usd=5%% (relative), slo_attainment=0.02 (absolute), "
                        "e2e_p99_s=off; overrides the defaults")
    p.add_argument("--update", action="store_true", help="write the baseline from this run instead of checking")
    p.add_argument("--junit", metavar="REPORT.xml", help="also write a JUnit XML report")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field first")
    p.add_argument("--all", dest="show_all", action="store_true", help="show every compared metric, not only changes")
    p.add_argument("--update-all", nargs=2, metavar=("SCENARIO_DIR", "BASELINE_DIR"),
                   help="write BASELINE_DIR/<stem>.csv for every SCENARIO_DIR/*.yaml")
    p.add_argument("--check-all", nargs=2, metavar=("SCENARIO_DIR", "BASELINE_DIR"),
                   help="check every SCENARIO_DIR/*.yaml against BASELINE_DIR/<stem>.csv")


def command(args) -> int:
    from ..cli import parse_sets

    if args.update_all or args.check_all:
        if args.scenario or args.baseline or args.update or args.set:
            raise _usage("--update-all/--check-all take two directories and no scenario, --baseline, --update or --set")
        if args.update_all and args.check_all:
            raise _usage("give --update-all or --check-all, not both")
    elif not args.scenario:
        raise _usage("give a scenario file (or --update-all/--check-all SCENARIO_DIR BASELINE_DIR)")
    tol = parse_tolerances(args.tolerance) if args.tolerance else None  # bad syntax: exit 2 before running
    if args.junit:
        writable(args.junit, "--junit")  # exit 2 before running, not a traceback after

    if args.update_all:
        for p in update_all(*args.update_all):
            print(f"wrote {p}")
        return 0
    if args.check_all:
        reports = check_all(*args.check_all, tolerance=tol)
        for rep in reports:
            _print(rep, args.show_all)
        if args.junit:
            junit(reports, args.junit)
            print(f"wrote {args.junit}")
        bad = [r.scenario for r in reports if not r.passed]
        print(f"{len(reports) - len(bad)} of {len(reports)} scenarios pass" + (f"; regressed: {', '.join(bad)}" if bad else ""))
        return 1 if bad else 0

    sets = parse_sets(args.set)
    baseline = args.baseline or default_baseline(args.scenario)
    if args.update:
        p = update(args.scenario, baseline, sets)
        print(f"wrote baseline {p}")
        return 0
    rep = check(args.scenario, baseline, tol, sets)
    _print(rep, args.show_all)
    if args.junit:
        rep.to_junit(args.junit)
        print(f"wrote {args.junit}")
    return 0 if rep.passed else 1


def _print(rep: CheckReport, show_all: bool) -> None:
    for n in rep.notes:
        print(n, file=sys.stderr)
    print(rep.headline())
    print(rep.table(show_all=show_all))
    if not rep.passed:
        print(f"if the change is intended, regenerate the baseline: maiasim check <scenario> --update "
              f"(all: {REGENERATE})")


def main(argv: list[str] | None = None) -> int:
    """``python -m maiasim.studies.check``: the ``maiasim check`` command, with the CLI's exit codes."""
    import argparse

    from ..cli import UsageError
    from ..physics.step import DoesNotFit

    p = argparse.ArgumentParser(prog="python -m maiasim.studies.check", description=__doc__.splitlines()[0])
    add_arguments(p)
    try:
        args = p.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    try:
        return command(args)
    except (ScenarioError, DoesNotFit, UsageError, FileNotFoundError) as e:
        print(f"maiasim check: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
