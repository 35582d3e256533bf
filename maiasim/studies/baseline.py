"""Baselines of the regression check: a scenario's summary frame, written once and committed, read
back and validated before every check.

A baseline is a CSV with a two-line comment header (the scenario it belongs to and the ``--set``
overrides of the run that wrote it), then the summary frame at full precision. Reading fails
closed: a baseline that cannot be trusted is a :class:`~maiasim.errors.UsageError` (exit 2, one
line naming the file and the fault), never a pass and never a regression. That is a baseline that
is empty, binary or not UTF-8, truncated (no final newline, a short row, no rows), without the
header :func:`write_baseline` writes, written for another scenario, with missing, extra or repeated
workload rows, lacking a compared metric (every default-tolerance metric is required), or holding
a value that is not a number or is infinite. An empty (NaN) value is allowed only where the metric
is undefined in the current run too (tpot with no completed request, ``slo_met`` with no SLO).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..results.columns import renamed_note
from ..scenario import Scenario
from .tolerances import DEFAULT_TOLERANCES

BASELINE_HEADER = "# maiasim check baseline"
#: the command that rewrites every committed baseline (``make baselines``)
REGENERATE = "python -m maiasim check --update-all scenarios baselines"

#: columns of a baseline that do not hold numbers; every other column must
TEXT_COLUMNS = frozenset({"workload", "slo_met", "cost_basis"})
_HEADER = re.compile(re.escape(BASELINE_HEADER) + r" for scenario (.+); regenerate with: ")


# ---- values --------------------------------------------------------------------------------------


def as_number(v: Any) -> float:
    """``v`` as a float, NaN when it is none (None, text): a baseline cell or summary value."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def as_bool(v: Any) -> bool | None:
    """``slo_met`` as written in a frame (a bool) or a CSV (``"True"``/``"False"``); None when it
    is neither (no SLO)."""
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    return None


def is_undefined(v: Any) -> bool:
    """None or NaN: the summary's mark for a metric without a value (no requests, no SLO)."""
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def fmt_value(v: Any) -> str:
    """A baseline or current value for a diff table: 4 significant digits, ``-`` when none."""
    if v is None:
        return "-"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    f = as_number(v)
    if math.isnan(f):
        return "-"
    return f"{f:.4g}"


# ---- writing -------------------------------------------------------------------------------------


def default_baseline(scenario_path: str | os.PathLike,
                     directory: str | os.PathLike = "baselines") -> Path:
    """Where a scenario's baseline lives by convention: ``<directory>/<scenario stem>.csv``."""
    return Path(directory) / f"{Path(scenario_path).stem}.csv"


def writable(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path, or UsageError when no file can be written there. Called before a
    simulation, so that a bad path costs no run and never ends in a traceback after one."""
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {p} is a directory; give the path of a file")
    if p.exists() and not os.access(p, os.W_OK):
        raise UsageError(f"{what} {p} cannot be written: no permission to write it")
    above = next((a for a in p.parents if a.exists()), None)  # the nearest existing folder above
    if above is not None and not above.is_dir():
        raise UsageError(f"{what} {p} cannot be written: {above} is a file, not a directory")
    if above is not None and not os.access(above, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {p} cannot be written: no permission to write in {above}")
    return p


def write_baseline(summary: pd.DataFrame, path: str | os.PathLike, scenario: str = "",
                   sets: dict | None = None) -> Path:
    """Write a summary frame as a baseline CSV (a comment header, then the frame at full
    precision, so a reread compares exactly)."""
    p = writable(path, "baseline")
    head = [f"{BASELINE_HEADER} for scenario {scenario!r}; regenerate with: {REGENERATE}",
            f"# set: {json.dumps(sets or {}, sort_keys=True)}"]
    body = summary.to_csv(index=False, lineterminator="\n")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("\n".join(head) + "\n" + body, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"baseline {p} cannot be written ({e.strerror or e})") from None
    return p


# ---- reading -------------------------------------------------------------------------------------


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


def bad_baseline(p: Path, what: str) -> UsageError:
    """The usage error for a baseline that cannot be trusted: the file, the fault, the remedy."""
    return UsageError(f"baseline {p} {what}; regenerate it with --update ({REGENERATE} for all)")


def metric_names(names: list[str]) -> str:
    """``metric a`` or ``metrics a, b``, for messages."""
    return f"metric{'s' * (len(names) > 1)} {', '.join(names)}"


def _baseline_text(p: Path) -> str:
    """The file as text: a missing, unreadable, empty, binary or cut-off file is refused here."""
    if p.is_dir():
        raise UsageError(f"baseline {p} is a directory, not a baseline CSV")
    if not p.exists():
        raise UsageError(f"baseline not found: {p} (create it with --update)")
    if not p.is_file():
        raise UsageError(f"baseline {p} is not a regular file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise UsageError(f"baseline {p} cannot be read ({e.strerror or e})") from None
    if not data.strip():
        raise bad_baseline(p, "is empty")
    if b"\0" in data:
        raise bad_baseline(p, "is a binary file (NUL bytes), not UTF-8 CSV text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        where = f"byte 0x{data[e.start]:02x} at offset {e.start}"
        raise bad_baseline(p, f"is a binary file or not UTF-8 text ({where})") from None
    if not text.endswith("\n"):
        raise bad_baseline(p, "is truncated: its last line has no newline (an interrupted write?)")
    return text


def _split_header(p: Path, text: str) -> tuple[list[str], list[str]]:
    """(comment header lines, CSV lines): the header must be the one write_baseline writes."""
    lines = text.splitlines()
    n = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    if not n or not _HEADER.match(lines[0]):
        raise bad_baseline(p, f"lacks the header line '{BASELINE_HEADER} for scenario ...'")
    if not any(line.strip() for line in lines[n:]):
        raise bad_baseline(p, "has no column names and no rows, only its comment header "
                              "(truncated)")
    return lines[:n], lines[n:]


def _header_facts(p: Path, head: list[str]) -> dict[str, Any]:
    """``scenario`` (from the first header line) and ``set`` (the --set overrides, JSON)."""
    try:
        name = ast.literal_eval(_HEADER.match(head[0]).group(1))
    except (ValueError, SyntaxError):
        name = None
    if not isinstance(name, str):
        raise bad_baseline(p, f"names no readable scenario in its header: {head[0][:80]!r}")
    sets = [line for line in head if line.startswith("# set:")]
    if len(sets) != 1:
        raise bad_baseline(p, "needs one '# set: {...}' header line (the --set overrides of the "
                              "run)")
    try:
        overrides = json.loads(sets[0].split(":", 1)[1])
    except json.JSONDecodeError as e:
        raise bad_baseline(p, f"has a '# set:' header line that is not JSON ({e.msg})") from None
    if not isinstance(overrides, dict):
        raise bad_baseline(p, "has a '# set:' header line that is not a JSON object")
    return {"scenario": name, "set": overrides}


def _frame(p: Path, body: list[str], offset: int) -> pd.DataFrame:
    """The CSV lines as a frame: every row complete, every required column once, values valid."""
    reader = csv.reader(body)
    try:
        rows = [(offset + reader.line_num, r) for r in reader if r]
    except csv.Error as e:
        raise bad_baseline(p, f"is not a readable CSV ({e})") from None
    cols = rows[0][1]
    dup = next((c for c in cols if cols.count(c) > 1), None)
    if dup is not None:
        raise bad_baseline(p, f"is corrupt: column {dup!r} appears twice")
    if "workload" not in cols:
        raise bad_baseline(p, "has no 'workload' column (is it a maiasim summary?)")
    lacking = [m for m in DEFAULT_TOLERANCES if m not in cols]
    if lacking:
        raise bad_baseline(p, f"lacks {metric_names(lacking)} (compared by default)"
                              f"{renamed_note(cols)}")
    if len(rows) == 1:
        raise bad_baseline(p, "has column names but no rows (truncated)")
    short = next(((n, len(r)) for n, r in rows if len(r) != len(cols)), None)
    if short is not None:
        n, k = short
        raise bad_baseline(p, f"is truncated or corrupt: line {n} has {k} fields, expected "
                              f"{len(cols)}")
    try:
        df = pd.read_csv(io.StringIO("\n".join(body)), keep_default_na=True)
    except (ValueError, pd.errors.ParserError) as e:  # EmptyDataError is a ValueError
        raise bad_baseline(p, f"is not a readable CSV ({' '.join(str(e).split())})") from None
    df["workload"] = [r[cols.index("workload")] for _, r in rows[1:]]  # names as written
    _check_values(p, df)
    return df


def _check_values(p: Path, df: pd.DataFrame) -> None:
    """Workload names once each; numbers finite or empty (NaN: undefined, see
    :func:`check_defined`); slo_met True, False or empty. Converts numeric columns in place."""
    names = list(df.workload)
    for w in names:
        if not w.strip():
            raise bad_baseline(p, "is corrupt: a workload row has no name")
        if names.count(w) > 1:
            raise bad_baseline(p, f"is corrupt: workload row {w!r} appears twice")
    for col in df.columns:
        if col in TEXT_COLUMNS:
            continue
        num = pd.to_numeric(df[col], errors="coerce")
        bad = (num.isna() & df[col].notna()) | np.isinf(num.astype(float))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise bad_baseline(p, f"has {names[i]}.{col} = {str(df[col].iloc[i])!r}: not a "
                                  "finite number")
        df[col] = num
    for w, v in zip(names, df.slo_met, strict=True):  # slo_met is a required column
        if as_bool(v) is None and not is_undefined(v):
            raise bad_baseline(p, f"has {w}.slo_met = {str(v)!r}: not True, False or empty "
                                  "(no SLO)")


def _match_scenario(p: Path, df: pd.DataFrame, meta: dict, sc: Scenario) -> None:
    """The baseline must be this scenario's: its header names it, its rows are its workloads."""
    if meta["scenario"] != sc.name:
        raise UsageError(f"baseline {p} belongs to scenario {meta['scenario']!r}, not "
                         f"{sc.name!r}; give {sc.name!r} its own baseline, or rewrite this one "
                         f"for it: maiasim check <scenario> --baseline {p} --update")
    want = [w.name for w in sc.workload] + ["all"]
    missing = [w for w in want if w not in set(df.workload)]
    extra = [w for w in df.workload if w not in want]
    if missing or extra:
        what = "; ".join([*(["missing " + ", ".join(missing)] if missing else []),
                          *(["unexpected " + ", ".join(extra)] if extra else [])])
        raise bad_baseline(p, f"does not match the workloads of scenario {sc.name!r} ({what}; "
                              f"expected rows: {', '.join(want)})")


def check_defined(p: Path, base: pd.DataFrame, current: pd.DataFrame) -> None:
    """A baseline value may be empty (NaN, or no slo_met) only where this run's is undefined too.

    The summary leaves a metric NaN where it has no value (tpot when no request got a second
    token, slo_met without an SLO); an empty baseline value against a number now means a stale or
    corrupt baseline, which the comparison would otherwise meet as a metric without a baseline."""
    cur = {str(r["workload"]): r for r in current.to_dict("records")}
    cols = [c for c in base.columns if c in current.columns and c != "workload"]
    undefined = []
    for b in base.to_dict("records"):
        c = cur.get(str(b["workload"]))
        for col in cols if c is not None else []:
            if is_undefined(b[col]) and not is_undefined(c[col]):
                undefined.append(f"{b['workload']}.{col} (now {fmt_value(c[col])})")
    if undefined:
        more = f" and {len(undefined) - 3} more" if len(undefined) > 3 else ""
        raise bad_baseline(p, f"is empty (NaN) at {', '.join(undefined[:3])}{more}, values this "
                              "run defines: NaN is allowed only where the metric is undefined now "
                              "too")
