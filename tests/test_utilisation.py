"""Utilisation a planner reads correctly: stepping time beside time-weighted MFU, MBU and KV use,
and token rates whose names say what they count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import small_scenario

import maiasim as ms
from maiasim.build import build_fleet
from maiasim.engine.cluster import run as run_engine
from maiasim.results.frames import Result

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def res():
    return ms.simulate(small_scenario())


def test_kv_mean_is_the_time_weighted_mean_of_the_timeline(res):
    """The replicas' mean KV use, weighted by capacity, is the timeline's KV use integrated over
    the run: both integrate the same step log."""
    rp, tl = res.replicas, res.timeline
    ends = np.minimum(np.r_[tl.time_s.to_numpy()[1:], np.inf], res.duration_s)
    width = ends - tl.time_s.to_numpy()
    fleet_mean = float((tl.kv_used_frac * width).sum()) / res.duration_s
    assert float(rp.kv_mean_frac.mean()) == pytest.approx(fleet_mean, rel=1e-9)
    assert (rp.kv_mean_frac > 0).all()
    assert (rp.kv_mean_frac <= rp.kv_peak_frac).all()


def test_kv_mean_is_the_same_with_fast_forward_on_or_off():
    sc = small_scenario(**{"workload.0.arrival.rate_per_s": 0.5})
    ff = ms.simulate(sc).replicas
    st = ms.simulate(sc.with_overrides({"engine.fast_forward": False})).replicas
    np.testing.assert_allclose(ff.kv_mean_frac, st.kv_mean_frac, rtol=1e-9)


def test_stepping_is_not_fullness():
    """A light load keeps a replica stepping much of the time at a small MFU and KV use: the
    frame says both, in columns named for what they measure."""
    rp = ms.simulate(small_scenario(**{"workload.0.arrival.rate_per_s": 2.0})).replicas
    assert (rp.stepping_frac > 0.3).all()
    assert (rp.mfu < rp.stepping_frac / 3).all()
    assert (rp.kv_mean_frac < rp.stepping_frac / 3).all()
    assert "busy_frac" not in rp.columns and "busy_s" not in rp.columns


def test_kv_mean_is_nan_without_a_step_log():
    sc = small_scenario()
    rp = Result(sc, run_engine(build_fleet(sc), record_steps=False)).replicas
    assert rp.kv_mean_frac.isna().all()
    assert rp.mfu.notna().all()


def test_token_rates_say_what_they_count(res):
    s = res.summary.set_index("workload").loc["all"]
    req = res.requests
    done = req[req.status == "completed"]
    assert s.output_tok_s == pytest.approx(done.output_tokens.sum() / res.duration_s)
    assert s.prompt_tok_s == pytest.approx(done.prompt_tokens.sum() / res.duration_s)
    assert s.total_tok_s == pytest.approx(s.output_tok_s + s.prompt_tok_s)
    assert s.usd_per_m_output_tok == pytest.approx(1e6 / s.output_tokens_per_usd)
    for old in ("throughput_tok_s", "usd_per_mtok", "tokens_per_usd", "tokens_per_joule",
                "request_rate_per_s"):
        assert old not in res.summary.columns


def test_an_old_column_name_is_answered_with_its_new_one(tmp_path, capsys):
    """A baseline written before the renames, or a --tolerance in the old words, is a clear
    error that names the new column (exit 2)."""
    from maiasim import cli
    from maiasim.results.columns import RENAMED, column

    for old, new in RENAMED.items():
        assert any(column(f, new) for f in ("summary", "requests", "replicas", "timeline")), new
        assert not any(column(f, old) for f in ("summary", "requests", "replicas", "timeline"))
    base = tmp_path / "old.csv"
    text = (ROOT / "baselines" / "maia200-llama70b-conv.csv").read_text(encoding="utf-8")
    for old, new in RENAMED.items():
        if old in ("tokens", "busy_s", "busy_frac", "generated_tokens"):
            continue
        text = text.replace(new, old)
    base.write_text(text, encoding="utf-8")
    sc = str(ROOT / "scenarios" / "maia200-llama70b-conv.yaml")
    assert cli.main(["check", sc, "--baseline", str(base)]) == 2
    err = capsys.readouterr().err
    assert "throughput_tok_s is now output_tok_s" in err and "Traceback" not in err
    current = str(ROOT / "baselines" / "maia200-llama70b-conv.csv")
    assert cli.main(["check", sc, "--baseline", current,
                     "--tolerance", "usd_per_mtok=5%"]) == 2
    assert "usd_per_mtok is now usd_per_m_output_tok" in capsys.readouterr().err
