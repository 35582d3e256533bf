"""Trace files: Azure-format CSVs of recorded requests, read strictly and cached.

A trace is user input like the scenario, and as bounded: :func:`read_trace` accepts only

* a regular file (not a directory, device, FIFO or socket) of at most ``MAX_TRACE_BYTES``
  (2 GiB) that the user may read, holding UTF-8 text (a byte-order mark is fine; NUL bytes are
  not);
* a CSV with a header naming ``TIMESTAMP``, ``ContextTokens`` and ``GeneratedTokens`` (other
  columns are ignored) and at least one row. A row with more fields than the header is refused,
  and so is one with fewer when that leaves one of those three blank; empty lines are refused
  except at the end of the file;
* ``TIMESTAMP``: finite seconds (any origin) when the column is all numbers, else date-times
  pandas parses (a time-zone offset is honoured, none means UTC; 1677-09-21 to 2262-04-11);
* ``ContextTokens`` and ``GeneratedTokens``: whole numbers from 1 to ``MAX_TRACE_TOKENS``
  (2^24 = 16,777,216, the schema's limit on any token count), written ``12`` or ``12.0``. Zero,
  negative, fractional, blank and non-numeric counts are refused, never clamped: a request always
  has a prompt and always produces its first token, so a zero means the row is not a served
  request. (The bundled Azure traces have none.)

Anything else is a :class:`ScenarioError` naming the file, the first bad line (1-based, the
header is line 1; "row N" when quoted line breaks make line numbers ambiguous) and what is
allowed. Rows are sorted by time (stably) and times made relative to the first request.

Parsed traces are cached per (path, device, inode, size, mtime, ctime), so an edited file is
read again; a file changed within the last ``_RACY_NS`` is not cached at all, because a second
edit in the same timestamp tick would leave the key unchanged.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import stat
import threading
import time
from collections import OrderedDict

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..scenario.limits import MAX_TOKENS

__all__ = ["MAX_TRACE_BYTES", "MAX_TRACE_TOKENS", "TRACE_COLUMNS", "Trace", "clear_trace_cache",
           "read_trace"]

#: the largest trace file read, in bytes; larger files are refused before they are opened
MAX_TRACE_BYTES = 2 * 1024**3
#: the largest token count a trace row may give: the schema's limit for any token count
MAX_TRACE_TOKENS = MAX_TOKENS
#: columns a trace must have
TRACE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
#: files changed this recently (ns) are not cached: a same-size rewrite in the same
#: timestamp tick (coarse or 2-s file-system clocks) would not change the cache key
_RACY_NS = 2_000_000_000
_CACHE_SIZE = 16

#: (seconds since the first request, prompt tokens, output tokens), one entry per row
Trace = tuple[np.ndarray, np.ndarray, np.ndarray]


# ---- trace files: the file ------------------------------------------------------------------

_cache: OrderedDict[tuple, Trace] = OrderedDict()
_cache_lock = threading.Lock()


def read_trace(path: str) -> Trace:
    """(seconds since the first request, prompt tokens, output tokens) of an Azure-format CSV.

    The arrays are read-only and may be shared with other callers (they are cached)."""
    path = str(path)
    st = _stat_trace(path)
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    data, stable = _read_bytes(path, st)
    trace = _parse_trace(path, data)
    racy = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < _RACY_NS
    if stable and not racy:
        with _cache_lock:
            _cache[key] = trace
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return trace


def clear_trace_cache() -> None:
    """Forget every parsed trace (they are re-read on next use)."""
    with _cache_lock:
        _cache.clear()


def _os_error(path: str, e: OSError) -> ScenarioError:
    if isinstance(e, FileNotFoundError):
        return ScenarioError(f"trace file not found: {path}")
    if isinstance(e, PermissionError):
        return ScenarioError(f"trace {path}: permission denied; the file must be readable")
    return ScenarioError(f"trace {path}: cannot read the file ({e.strerror or e})")


def _stat_trace(path: str) -> os.stat_result:
    """Refuse anything but a regular file within the size limit, before opening it.

    Opening a device or FIFO can block, never end or have side effects, so it is never opened."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise _os_error(path, e) from None
    _check_regular(path, st)
    return st


def _check_regular(path: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ScenarioError(f"trace {path}: is a directory; give a CSV file")
    if not stat.S_ISREG(st.st_mode):
        raise ScenarioError(f"trace {path}: not a regular file ({_kind(st.st_mode)}); "
                            "only regular CSV files are read")
    if st.st_size > MAX_TRACE_BYTES:
        raise ScenarioError(f"trace {path}: {st.st_size:,} bytes, over the limit of "
                            f"{MAX_TRACE_BYTES:,} bytes (maiasim.workload.traces.MAX_TRACE_BYTES)")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _read_bytes(path: str, st: os.stat_result) -> tuple[bytes, bool]:
    """The file's bytes, and whether it stayed the file that was stat'ed while being read.

    O_NONBLOCK and the fstat guard against the path being swapped for a FIFO after the stat."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise _os_error(path, e) from None
    with open(fd, "rb", closefd=True) as f:
        before = os.fstat(fd)
        _check_regular(path, before)
        data = f.read(before.st_size + 1)
        after = os.fstat(fd)
    if len(data) > before.st_size or len(data) > MAX_TRACE_BYTES:
        raise ScenarioError(f"trace {path}: the file changed while being read (it reported "
                            f"{before.st_size:,} bytes); only files on disk not being written "
                            "are read")
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    stable = all(ident == (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
                 for s in (before, after)) and len(data) == st.st_size
    return data, stable


# ---- trace files: the text ------------------------------------------------------------------


def _line_at(data: bytes, pos: int) -> int:
    """1-based line of byte ``pos`` (\\n, \\r\\n and lone \\r all end a line, as for pandas)."""
    return _terminators(data, pos) + 1


def _terminators(data: bytes, end: int) -> int:
    return data.count(b"\n", 0, end) + data.count(b"\r", 0, end) - data.count(b"\r\n", 0, end)


def _check_text(path: str, data: bytes) -> None:
    """Refuse binary (NUL bytes) and non-UTF-8 files with the line of the first bad byte."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ScenarioError(f"trace {path}: line {_line_at(data, nul)} has a NUL byte; this is a "
                            "binary file, not a CSV text file")
    if data.isascii():
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"trace {path}: line {_line_at(data, e.start)} is not UTF-8 text "
                            f"(byte 0x{data[e.start]:02x}); save the CSV as UTF-8") from None


def _strip_end(data: bytes) -> bytes:
    """Drop trailing blank lines and spaces, which are not rows (a copy only when there are any)."""
    end = len(data)
    while end and data[end - 1] in b" \t\r\n":
        end -= 1
    return data if data[end:] in (b"", b"\n", b"\r\n", b"\r") else data[:end]


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _parser_error(path: str, e: Exception) -> ScenarioError:
    m = _FIELDS.search(str(e))
    if m:
        want, line, saw = m.groups()
        return ScenarioError(f"trace {path}: line {line} has {saw} fields, expected {want} "
                             "like the header")
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    first = first.replace("Error tokenizing data. C error: ", "")
    return ScenarioError(f"trace {path}: not a CSV file that can be read: {first}")


def _read_csv(path: str, data: bytes) -> pd.DataFrame:
    """Parse without pandas' silent repairs: no skipped lines, no guessed index, no lost fields.

    The first pass (header and first row, no header row) catches a first row longer than the
    header, which pandas would otherwise turn into an index (shifting every column)."""
    opts = dict(skip_blank_lines=False, on_bad_lines="error", encoding="utf-8")
    try:
        pd.read_csv(io.BytesIO(data), header=None, nrows=2, dtype=str, **opts)
        return pd.read_csv(io.BytesIO(data), index_col=False, **opts)
    except pd.errors.EmptyDataError:
        raise ScenarioError(f"trace {path}: trace has no rows (the file is empty)") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise _parser_error(path, e) from None


# ---- trace files: the rows ------------------------------------------------------------------


class _Rows:
    """Names a data row for messages: its line, or its row number when lines are ambiguous."""

    def __init__(self, path: str, data: bytes, n_rows: int, n_fields: int):
        self.path, self.data, self.n_fields = path, data, n_fields
        # one row per line after the header, unless a quoted field holds a line break
        self.exact = _terminators(data, len(data)) + (not data.endswith((b"\n", b"\r"))) \
            == n_rows + 1

    def where(self, i: int) -> str:
        return f"line {i + 2}" if self.exact else f"row {i + 1}"

    def shape_problem(self, i: int) -> str | None:
        """"line N has k fields" when row i is short of fields (pandas fills those with NaN)."""
        if not self.exact:
            return None
        text = io.TextIOWrapper(io.BytesIO(self.data), encoding="utf-8-sig", newline=None)
        line = next(itertools.islice(text, i + 1, None), "").rstrip("\n")
        fields = next(csv.reader([line]), [])
        if not fields:
            return f"{self.where(i)} is empty; blank lines may only end the file"
        if len(fields) < self.n_fields:
            return (f"{self.where(i)} has {len(fields)} fields, expected {self.n_fields} "
                    "like the header")
        return None

    def refuse(self, i: int, col: str, problem: str, allowed: str) -> ScenarioError:
        shape = self.shape_problem(i)
        if shape:
            return ScenarioError(f"trace {self.path}: {shape}")
        return ScenarioError(f"trace {self.path}: {self.where(i)}: {col} {problem}; {allowed}")


def _show(v) -> str:
    """A cell for a message: short, quoted if text."""
    if isinstance(v, str):
        return repr(v if len(v) <= 30 else v[:27] + "...")
    return str(v)


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or (
        isinstance(v, str) and not v.strip())


def _cell_problem(v, numeric: bool, what: str) -> str:
    if _blank(v):
        return "is blank"
    return f"{_show(v)} is {what}" if numeric else f"{_show(v)} is not a number"


def _numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values as float, whether each cell was a number): text cells that are numbers count."""
    if pd.api.types.is_bool_dtype(col):
        return np.full(len(col), np.nan), np.zeros(len(col), bool)
    if not pd.api.types.is_numeric_dtype(col):
        col = pd.to_numeric(col, errors="coerce")
    v = col.to_numpy(dtype=float, na_value=np.nan)
    return v, ~np.isnan(v)


def _tokens(col: pd.Series) -> tuple[np.ndarray, int | None, str]:
    """The column as int64, and the first bad row with its problem (None when all are good)."""
    if pd.api.types.is_integer_dtype(col) and not pd.api.types.is_bool_dtype(col):
        v = col.to_numpy(np.int64)
        bad = (v < 1) | (v > MAX_TRACE_TOKENS)
        out = v
    else:
        f, is_num = _numbers(col)
        whole = is_num & np.isfinite(f) & (f == np.floor(np.where(np.isfinite(f), f, 0)))
        bad = ~(whole & (f >= 1) & (f <= MAX_TRACE_TOKENS))
        out = np.where(bad, 1, f).astype(np.int64)
    if not bad.any():
        return out, None, ""
    i = int(np.argmax(bad))
    raw = col.iloc[i]
    numeric = not _blank(raw) and bool(_numbers(col.iloc[i:i + 1])[1][0])
    return out, i, _cell_problem(raw, numeric, "not allowed")


def _seconds(col: pd.Series) -> tuple[np.ndarray, int | None, str]:
    """TIMESTAMP as float seconds: numbers as they are, else date-times (as UTC epoch seconds)."""
    if pd.api.types.is_bool_dtype(col):
        return np.zeros(len(col)), 0, f"{_show(col.iloc[0])} is not a number or date-time"
    if pd.api.types.is_numeric_dtype(col):
        t = col.to_numpy(dtype=float, na_value=np.nan)
        bad, kind = ~np.isfinite(t), "not finite"  # NaN is reported as blank
    else:
        t, bad, kind = _datetime_seconds(col)
    if not bad.any():
        return t, None, ""
    i = int(np.argmax(bad))
    raw = col.iloc[i]
    return t, i, "is blank" if _blank(raw) else f"{_show(raw)} is {kind}"


def _datetime_seconds(col: pd.Series) -> tuple[np.ndarray, np.ndarray, str]:
    """(epoch seconds, bad rows, what the first bad one is): offsets honoured, naive is UTC."""
    dt = pd.to_datetime(col, format="mixed", utc=True, errors="coerce")
    lo, hi = (pd.Timestamp(x).tz_localize("UTC") for x in (pd.Timestamp.min, pd.Timestamp.max))
    outside = (dt.notna() & ((dt < lo) | (dt > hi))).to_numpy()
    bad = dt.isna().to_numpy() | outside
    if bad.any():
        first_outside = outside[np.argmax(bad)]
        kind = f"outside {lo:%Y-%m-%d}..{hi:%Y-%m-%d}" if first_outside else "not a date-time"
        return np.zeros(len(col)), bad, kind
    # pandas picks s/ms/us/ns resolution from the text; the unit must be fixed before int64
    return dt.dt.as_unit("ns").astype("int64").to_numpy() / 1e9, bad, ""


def _parse_trace(path: str, data: bytes) -> Trace:
    _check_text(path, data)
    data = _strip_end(data)
    df = _read_csv(path, data)
    missing = set(TRACE_COLUMNS) - set(df.columns)
    if missing:
        raise ScenarioError(f"trace {path}: missing columns {sorted(missing)} "
                            "(need TIMESTAMP, ContextTokens, GeneratedTokens)")
    if df.empty:
        raise ScenarioError(f"trace {path}: trace has no rows (only a header)")
    rows = _Rows(path, data, len(df), len(df.columns))
    t, i_t, p_t = _seconds(df["TIMESTAMP"])
    prompt, i_p, p_p = _tokens(df["ContextTokens"])
    output, i_o, p_o = _tokens(df["GeneratedTokens"])
    _refuse_first(rows, [
        (i_t, "TIMESTAMP", p_t, "timestamps must be finite seconds or date-times"),
        (i_p, "ContextTokens", p_p, _TOKENS_ALLOWED),
        (i_o, "GeneratedTokens", p_o, _TOKENS_ALLOWED),
    ])
    order = np.argsort(t, kind="stable")
    with np.errstate(over="ignore"):
        t = t[order] - t[order][0]
    if not np.isfinite(t[-1]):
        raise ScenarioError(f"trace {path}: TIMESTAMP values span more than a float can hold; "
                            "timestamps must be finite seconds or date-times")
    prompt, output = prompt[order], output[order]
    for a in (t, prompt, output):
        a.setflags(write=False)
    return t, prompt, output


_TOKENS_ALLOWED = f"token counts must be whole numbers from 1 to {MAX_TRACE_TOKENS:,}"


def _refuse_first(rows: _Rows, found: list[tuple[int | None, str, str, str]]) -> None:
    """Raise for the earliest bad row in the file (columns left to right on a tie)."""
    bad = [f for f in found if f[0] is not None]
    if bad:
        i, col, problem, allowed = min(bad, key=lambda f: f[0])
        raise rows.refuse(i, col, problem, allowed)

