"""Trace files and arrival counts: what is read, what is refused, and that refusals are clear."""

from __future__ import annotations

import copy
import os
import re
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import maiasim as ms
from maiasim.cli import main
from maiasim.scenario import ScenarioError
from maiasim.workload import read_trace, rng_for, traces
from maiasim.workload.streams import streams

HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
GOOD_ROWS = "0.0,100,10\n0.5,200,20\n1.0,300,30\n"

#: the minimal valid scenario of the brief; tests change copies of it
BASE = {
    "name": "t", "horizon_s": 10, "hardware": {"chip": "maia200"}, "model": "llama-3.1-8b",
    "deployment": {"replicas": 1},
    "workload": [{
        "name": "w", "arrival": {"type": "poisson", "rate_per_s": 1},
        "prompt_tokens": {"type": "fixed", "value": 100},
        "output_tokens": {"type": "fixed", "value": 10},
    }],
}


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def _scenario(**over) -> dict:
    """BASE with top-level keys and ``w_<key>`` keys of the first workload replaced."""
    d = copy.deepcopy(BASE)
    for k, v in over.items():
        if k.startswith("w_"):
            d["workload"][0][k[2:]] = v
        else:
            d[k] = v
    return d


def _trace_scenario(path: Path, **over) -> dict:
    return _scenario(w_arrival={"type": "trace", "path": str(path)}, w_prompt_tokens=None,
                     w_output_tokens=None, **over)


def _finishes_within(fn, seconds: float) -> BaseException | None:
    """Run fn in a daemon thread; fail if it is still running after ``seconds`` (e.g. a FIFO)."""
    box: list[BaseException | None] = []

    def target():
        try:
            fn()
            box.append(None)
        except BaseException as e:  # noqa: B036 - handed back to the test
            box.append(e)

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"still running after {seconds} s"
    return box[0]


@pytest.fixture
def no_racy(monkeypatch):
    """Cache even files written just now, so tests see the cache key at work."""
    monkeypatch.setattr(traces, "_RACY_NS", 0)


# ---- stale cache --------------------------------------------------------------------------


def test_edited_trace_is_reread(tmp_path, no_racy):
    p = _write(tmp_path / "t.csv", HEADER + GOOD_ROWS)
    t, prompt, _ = read_trace(str(p))
    assert prompt.tolist() == [100, 200, 300]
    _write(p, HEADER + "0.0,7,1\n2.0,8,2\n")
    t, prompt, output = read_trace(str(p))
    assert prompt.tolist() == [7, 8] and output.tolist() == [1, 2] and t.tolist() == [0.0, 2.0]


def test_edit_of_same_size_with_mtime_restored_is_reread(tmp_path, no_racy):
    p = _write(tmp_path / "t.csv", HEADER + GOOD_ROWS)
    st = os.stat(p)
    assert read_trace(str(p))[1].tolist() == [100, 200, 300]
    _write(p, HEADER + GOOD_ROWS.replace("100", "900"))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # like cp -p / rsync -t
    assert os.stat(p).st_size == st.st_size
    assert read_trace(str(p))[1].tolist() == [900, 200, 300]


def test_unchanged_trace_is_cached(tmp_path, no_racy):
    p = _write(tmp_path / "t.csv", HEADER + GOOD_ROWS)
    a, b = read_trace(str(p)), read_trace(str(p))
    assert a[0] is b[0]


def test_trace_written_just_now_is_not_trusted_to_the_cache(tmp_path):
    """A same-size rewrite within the file system's timestamp tick must not be served stale."""
    p = _write(tmp_path / "t.csv", HEADER + GOOD_ROWS)
    read_trace(str(p))
    st = os.stat(p)
    _write(p, HEADER + GOOD_ROWS.replace("100", "900"))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert read_trace(str(p))[1].tolist() == [900, 200, 300]


def test_trace_arrays_are_read_only(tmp_path):
    p = _write(tmp_path / "t.csv", HEADER + GOOD_ROWS)
    for a in read_trace(str(p)):
        assert not a.flags.writeable


# ---- what is read -------------------------------------------------------------------------


@pytest.mark.parametrize("kind,rows", [("code", 8819), ("conv", 19366)])
def test_bundled_azure_traces(kind, rows):
    sc = ms.from_dict(_trace_scenario(Path("unused")))
    t, prompt, output = read_trace(sc.resolve_path(f"azure:{kind}"))
    assert len(t) == len(prompt) == len(output) == rows
    assert t[0] == 0 and np.all(np.diff(t) >= 0)
    assert prompt.min() >= 1 and output.min() >= 1
    assert prompt.dtype == output.dtype == np.int64


@pytest.mark.parametrize("text,t,prompt", [
    (HEADER + "3,30,1\n1,10,1\n2,20,1\n", [0, 1, 2], [10, 20, 30]),  # sorted by time
    ("\ufeff" + HEADER + "0,5,1\n", [0], [5]),  # a UTF-8 byte-order mark (Excel)
    (HEADER.replace("\n", "\r\n") + "0,5,1\r\n1,6,1\r\n", [0, 1], [5, 6]),  # CRLF
    (HEADER + "0,5,1\n1,6,1\n\n\n  \n", [0, 1], [5, 6]),  # trailing blank lines
    (HEADER + "0,5,1\n1,6,1", [0, 1], [5, 6]),  # no final newline
    ("Extra,TIMESTAMP,ContextTokens,GeneratedTokens\nx,0,5,1\ny,1,6,1\n", [0, 1], [5, 6]),
    (HEADER + "0,5.0,1\n1,6e0,1\n", [0, 1], [5, 6]),  # whole numbers written as floats
    (HEADER + '"0","5","1"\n', [0], [5]),  # quoted fields
    (HEADER + "2023-11-16 18:00:00.25,5,1\n2023-11-16 18:00:01.5,6,1\n", [0, 1.25], [5, 6]),
    (HEADER + "2023-11-16T18:00:00+01:00,5,1\n2023-11-16T17:00:02Z,6,1\n", [0, 2], [5, 6]),
])
def test_valid_traces(tmp_path, text, t, prompt):
    got_t, got_p, got_o = read_trace(str(_write(tmp_path / "t.csv", text)))
    assert got_t.tolist() == pytest.approx(t) and got_p.tolist() == prompt
    assert got_p.dtype == got_o.dtype == np.int64


# ---- what is refused: the rows ------------------------------------------------------------

BAD_ROWS = [
    # (id, file content, regex the message must match besides the path)
    ("nan-tokens", HEADER + "0,100,10\n1,nan,10\n", r"line 3\b.*ContextTokens.*blank"),
    ("blank-tokens", HEADER + "0,100,10\n1,,10\n", r"line 3\b.*ContextTokens.*blank"),
    ("zero-output", HEADER + "0,100,10\n1,100,0\n", r"line 3\b.*GeneratedTokens.*\b0\b.*1"),
    ("zero-prompt", HEADER + "0,0,10\n", r"line 2\b.*ContextTokens.*\b0\b"),
    ("negative-tokens", HEADER + "0,100,10\n1,-5,10\n", r"line 3\b.*ContextTokens.*-5"),
    ("fractional-tokens", HEADER + "0,100,10\n1,100,2.5\n", r"line 3\b.*GeneratedTokens.*2\.5"),
    ("inf-tokens", HEADER + "0,100,inf\n", r"line 2\b.*GeneratedTokens.*inf"),
    ("huge-tokens", HEADER + "0,100,1e30\n", r"line 2\b.*GeneratedTokens"),
    ("too-many-tokens", HEADER + "0,16777217,1\n", r"line 2\b.*ContextTokens.*16,777,216"),
    ("non-numeric-tokens", HEADER + "0,100,10\n1,abc,10\n", r"line 3\b.*ContextTokens.*'abc'"),
    ("bool-tokens", HEADER + "0,100,True\n1,100,False\n", r"line 2\b.*GeneratedTokens"),
    ("nan-timestamp", HEADER + "0,100,10\nnan,100,10\n", r"line 3\b.*TIMESTAMP.*blank"),
    ("blank-timestamp", HEADER + "0,100,10\n,100,10\n", r"line 3\b.*TIMESTAMP.*blank"),
    ("inf-timestamp", HEADER + "0,100,10\ninf,100,10\n", r"line 3\b.*TIMESTAMP.*inf"),
    ("blank-datetime", HEADER + "2023-11-16 18:00:00,100,10\n,100,10\n",
     r"line 3\b.*TIMESTAMP.*blank"),
    ("bad-datetime", HEADER + "2023-11-16 18:00:00,100,10\nyesterday,100,10\n",
     r"line 3\b.*TIMESTAMP.*'yesterday'"),
    ("extra-field", HEADER + "0,100,10\n1,100,10,7\n", r"line 3\b.*4 fields.*3"),
    ("extra-field-first-row", HEADER + "0,100,10,7\n1,100,10,7\n", r"line 2\b.*4 fields.*3"),
    ("missing-field", HEADER + "0,100,10\n1,100\n", r"line 3\b.*2 fields.*3"),
    ("empty-line-inside", HEADER + "0,100,10\n\n1,100,10\n", r"line 3\b.*empty"),
    ("unclosed-quote", HEADER + '0,100,10\n"1,100,10\n', r"CSV"),
    ("empty-file", "", r"no rows"),
    ("blank-file", "\n\n", r"no rows"),
    ("header-only", HEADER, r"no rows"),
    ("missing-column", "TIMESTAMP,ContextTokens\n0,100\n", r"GeneratedTokens"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"binary"),
    ("nul-in-row", HEADER.encode() + b"0,100,1\x000\n", r"line 2\b.*binary"),
    ("not-utf8", HEADER.encode() + b"0,100,10\n1,\xff\xfe,10\n", r"line 3\b.*UTF-8"),
]


@pytest.mark.parametrize("content,pattern", [c[1:] for c in BAD_ROWS], ids=[c[0] for c in BAD_ROWS])
def test_bad_trace_rows_are_refused(tmp_path, content, pattern):
    p = _write(tmp_path / "bad.csv", content)
    with pytest.raises(ScenarioError) as e:
        read_trace(str(p))
    msg = str(e.value)
    assert str(p) in msg and "\n" not in msg.strip()
    assert re.search(pattern, msg), msg


def test_line_numbers_with_quoted_line_breaks_fall_back_to_row_numbers(tmp_path):
    """A quoted field spanning lines makes row != line - 1; say "row", never a wrong line."""
    p = _write(tmp_path / "q.csv", HEADER + '0,100,10\n"1\n",100,10\n2,100,-1\n')
    with pytest.raises(ScenarioError, match=r"row 3\b.*GeneratedTokens"):
        read_trace(str(p))


# ---- what is refused: the file itself ----------------------------------------------------


def test_directory_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match=re.escape(str(tmp_path)) + ".*directory"):
        read_trace(str(tmp_path))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        read_trace(str(tmp_path / "nope.csv"))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_device_is_refused_quickly():
    err = _finishes_within(lambda: read_trace("/dev/zero"), 5)
    assert isinstance(err, ScenarioError) and "/dev/zero" in str(err)
    assert "regular file" in str(err)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    err = _finishes_within(lambda: read_trace(str(fifo)), 5)
    assert isinstance(err, ScenarioError) and str(fifo) in str(err)
    assert "regular file" in str(err)


def test_file_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(traces, "MAX_TRACE_BYTES", 64)
    p = _write(tmp_path / "big.csv", HEADER + GOOD_ROWS * 5)
    with pytest.raises(ScenarioError, match=re.escape(str(p)) + ".*MAX_TRACE_BYTES"):
        read_trace(str(p))


def test_size_limit_is_documented_and_sane():
    assert traces.MAX_TRACE_BYTES == 2 * 1024**3
    assert "MAX_TRACE_BYTES" in traces.__doc__


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads any file")
def test_unreadable_file_is_refused(tmp_path):
    p = _write(tmp_path / "secret.csv", HEADER + GOOD_ROWS)
    p.chmod(0)
    try:
        with pytest.raises(ScenarioError, match=re.escape(str(p)) + ".*permission denied"):
            read_trace(str(p))
    finally:
        p.chmod(0o600)


def test_permission_denied_on_open_is_refused(tmp_path, monkeypatch):
    """The same as above for root, who may read anything: the open itself is refused."""
    p = _write(tmp_path / "secret.csv", HEADER + GOOD_ROWS)

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(traces.os, "open", denied)
    with pytest.raises(ScenarioError, match=re.escape(str(p)) + ".*permission denied"):
        read_trace(str(p))


# ---- refusals through the public API and the CLI ------------------------------------------


def test_bad_trace_through_simulate(tmp_path):
    p = _write(tmp_path / "bad.csv", HEADER + "0,100,10\n1,-3,10\n")
    with pytest.raises(ScenarioError, match=re.escape(str(p)) + r".*line 3\b"):
        ms.simulate(ms.from_dict(_trace_scenario(p)))


def test_bad_resampled_trace_through_simulate(tmp_path):
    p = _write(tmp_path / "bad.csv", HEADER + "0,100,10\n1,100,\n")
    d = _scenario(w_prompt_tokens={"type": "trace", "path": str(p)})
    with pytest.raises(ScenarioError, match=re.escape(str(p)) + r".*line 3\b"):
        ms.simulate(ms.from_dict(d))


def test_cli_reports_a_bad_trace_without_traceback(tmp_path, capsys):
    import yaml

    _write(tmp_path / "bad.csv", HEADER + "0,100,10\n1,100,10,99\n")
    y = tmp_path / "s.yaml"
    d = _scenario(w_arrival={"type": "trace", "path": "bad.csv"}, w_prompt_tokens=None,
                  w_output_tokens=None)
    y.write_text(yaml.safe_dump(d))
    assert main(["run", str(y), "-q", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "line 3" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---- arrival counts -----------------------------------------------------------------------


def _streams_of(d: dict):
    """streams() of a scenario dict: a refusal may come from the schema or from the workload."""
    return streams(ms.from_dict(d))


def test_heavy_tailed_gamma_stops_at_max_requests():
    d = _scenario(w_arrival={"type": "gamma", "rate_per_s": 1, "cv": 1e6},
                  engine={"max_requests": 1000})
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as e:
        _streams_of(d)
    assert time.perf_counter() - t0 < 1
    if "engine.max_requests" in str(e.value):  # not refused by a schema bound on cv
        assert "'w'" in str(e.value) and "1,000" in str(e.value)


def test_gamma_within_the_schema_bounds_stops_at_max_requests():
    """cv = 100 (shape 1e-4): nearly every gap is ~0, so far more than rate x horizon arrive."""
    d = _scenario(w_arrival={"type": "gamma", "rate_per_s": 1, "cv": 100},
                  engine={"max_requests": 100})
    with pytest.raises(ScenarioError, match=r"'w'.*cv = 100.*more than 100 requests.*"
                                            r"engine\.max_requests = 100"):
        _streams_of(d)


def _refusal_and_peak_memory(d: dict) -> tuple[str, float]:
    tracemalloc.start()
    try:
        with pytest.raises(ScenarioError) as e:
            _streams_of(d)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(e.value), peak


def test_huge_poisson_rate_is_refused_before_drawing():
    """The brief's case; the schema may refuse the rate first (then the message is its own)."""
    msg, peak = _refusal_and_peak_memory(
        _scenario(w_arrival={"type": "poisson", "rate_per_s": 1e7}, horizon_s=600))
    assert peak < 50e6
    if "engine.max_requests" in msg:
        assert "'w'" in msg and "6,000,000,000" in msg and "20,000,000" in msg


@pytest.mark.parametrize("rate,horizon,expect", [(1e5, 600, "60,000,000"),
                                                 (10, 1e7, "100,000,000")])
def test_rate_times_horizon_over_the_limit_is_refused_before_drawing(rate, horizon, expect):
    msg, peak = _refusal_and_peak_memory(
        _scenario(w_arrival={"type": "poisson", "rate_per_s": rate}, horizon_s=horizon))
    assert peak < 50e6
    assert re.search(rf"'w'.*{expect}.*20,000,000.*raise engine\.max_requests", msg), msg


def test_huge_horizon_is_refused_before_drawing():
    msg, peak = _refusal_and_peak_memory(_scenario(horizon_s=1e9))
    assert peak < 50e6
    if "engine.max_requests" in msg:  # not refused by a schema bound on horizon_s
        assert "1,000,000,000" in msg


@pytest.mark.parametrize("arrival", [
    {"type": "burst", "count": 10**9},
    {"type": "closed_loop", "concurrency": 4, "count": 10**9},
])
def test_huge_counts_are_refused(arrival):
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as e:
        _streams_of(_scenario(w_arrival=arrival))
    assert time.perf_counter() - t0 < 5
    if "engine.max_requests" in str(e.value):  # not refused by a schema bound on count
        assert "'w'" in str(e.value)


def test_the_limit_is_over_all_workloads():
    d = _scenario(engine={"max_requests": 1500})
    w2 = copy.deepcopy(d["workload"][0]) | {"name": "w2"}
    d["workload"][0]["arrival"] = {"type": "burst", "count": 800}
    w2["arrival"] = {"type": "closed_loop", "concurrency": 2, "count": 800}
    d["workload"].append(w2)
    with pytest.raises(ScenarioError, match=r"'w'.*800.*'w2'.*800.*1,600.*1,500"):
        _streams_of(d)
    d["engine"]["max_requests"] = 1600
    assert sum(len(s.prompt) for s in _streams_of(d)) == 1600


def test_trace_rows_within_the_horizon_count(tmp_path):
    p = _write(tmp_path / "t.csv", HEADER + "".join(f"{i},10,1\n" for i in range(50)))
    d = _trace_scenario(p, horizon_s=20, engine={"max_requests": 19})
    with pytest.raises(ScenarioError, match=r"'w'.*20\b.*19\b"):
        _streams_of(d)
    d["engine"]["max_requests"] = 20
    assert len(_streams_of(d)[0].times) == 20


def test_draws_are_unchanged_for_normal_scenarios():
    """The limit only refuses; it changes no draw (baselines depend on this)."""
    d = _scenario(w_arrival={"type": "gamma", "rate_per_s": 6, "cv": 3}, horizon_s=30, seed=5)
    a = _streams_of(d)[0].times
    rng = rng_for(5, "w", "arrival")
    k, chunks, t0 = 1 / 9, [], 0.0
    while True:  # the original generator, verbatim in effect
        t = t0 + np.cumsum(rng.gamma(k, (1 / 6) / k, size=int(180 * 1.1 + 20 * np.sqrt(180) + 100)))
        chunks.append(t[t < 30])
        if t[-1] >= 30:
            break
        t0 = t[-1]
    assert np.array_equal(a, np.concatenate(chunks))


def _repeated(horizon_s: float, **arrival) -> ms.Scenario:
    return ms.from_dict({
        "name": "rep", "horizon_s": horizon_s, "hardware": {"chip": "maia200", "chips": 4},
        "deployment": {"tensor_parallel": 4},
        "workload": [{"name": "conv", "arrival": {"type": "trace", "path": "azure:conv",
                                                  **arrival}}]})


def test_a_repeated_trace_fills_the_horizon_with_copies_of_itself():
    from maiasim.workload.streams import streams

    once = streams(_repeated(3600.0))[0]
    n = len(once.times)
    period = (once.times[-1] - once.times[0]) * n / (n - 1)  # the span plus one mean gap
    thrice = streams(_repeated(3 * period - 1e-6, repeat=True))[0]
    assert len(thrice.times) == 3 * n
    assert np.all(np.diff(thrice.times) >= 0)
    np.testing.assert_array_equal(thrice.prompt[n:2 * n], once.prompt)
    np.testing.assert_allclose(thrice.times[n:2 * n], once.times + period)
    fast = streams(_repeated(period - 1e-6, repeat=True, time_scale=0.5))[0]
    assert len(fast.times) == 2 * n  # twice the rate: two copies in one period
    assert len(streams(_repeated(period - 1e-6, time_scale=0.5))[0].times) == n


def test_a_repeated_trace_beyond_max_requests_is_refused_before_it_takes_memory():
    from maiasim.workload import check

    with pytest.raises(ms.ScenarioError, match="engine.max_requests"):
        check(_repeated(1e7, repeat=True, time_scale=1e-3))
