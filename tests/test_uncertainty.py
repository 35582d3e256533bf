"""Uncertainty bands: simulate(scenario, uncertainty=N) samples the calibration ranges."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import small_scenario

import maiasim as ms
from maiasim import catalog
from maiasim.studies import uncertainty

BANDED = ("output_tok_s", "ttft_p99_s", "tpot_p99_s", "e2e_p99_s", "output_tokens_per_usd",
          "usd_per_m_output_tok")


def _small(**over):
    return small_scenario(**{"horizon_s": 20, **over})


def test_bands_are_added_and_ordered():
    sc = _small()
    res = ms.simulate(sc, uncertainty=6)
    s = res.summary
    for m in BANDED:
        for q in (5, 50, 95):
            assert f"{m}_p{q}" in s.columns, m
        assert ((s[f"{m}_p5"] <= s[f"{m}_p50"] + 1e-12).all()
                and (s[f"{m}_p50"] <= s[f"{m}_p95"] + 1e-12).all()), m
    # latency really spreads: Maia 200's factors carry ranges
    assert (s.tpot_p99_s_p95 > s.tpot_p99_s_p5).all()
    assert len(res.uncertainty) == 6 * len(s)
    assert {"draw", "factor_hbm_fraction"} <= set(res.uncertainty.columns)


def test_nominal_frames_are_those_of_the_plain_run():
    sc = _small()
    plain = ms.simulate(sc)
    banded = ms.simulate(sc, uncertainty=3)
    pd.testing.assert_frame_equal(plain.requests, banded.requests)
    cols = list(plain.summary.columns)
    pd.testing.assert_frame_equal(plain.summary, banded.summary[cols])


def test_reproducible_from_the_scenario_seed_and_set_by_the_yaml_key():
    a = ms.simulate(_small(), uncertainty=4).summary
    b = ms.simulate(_small(**{"uncertainty.samples": 4})).summary
    pd.testing.assert_frame_equal(a, b)
    c = ms.simulate(_small(seed=43), uncertainty=4).summary
    assert not a.tpot_p99_s_p50.equals(c.tpot_p99_s_p50)
    assert "tpot_p99_s_p5" not in ms.simulate(_small(**{"uncertainty.samples": 4}),
                                              uncertainty=0).summary


def test_draws_stay_inside_the_ranges():
    cal = catalog.calibration("maia200")
    for d in uncertainty.draws(cal, 50, seed=1):
        for name, (lo, hi) in cal.ranges.items():
            v = d.gemm_fraction("default") if name == "gemm_peak_fraction" else getattr(d, name)
            assert lo - 1e-12 <= v <= hi + 1e-12, name
        assert d.gemm_fraction("fp4") / d.gemm_fraction("fp8") == pytest.approx(0.85 / 0.89)


def test_a_factor_the_scenario_sets_is_held_fixed():
    sc = _small(**{"hardware.calibration": {"hbm_fraction": 0.9}})
    cal = uncertainty.effective_calibration(sc)
    assert cal.hbm_fraction == 0.9 and "hbm_fraction" not in cal.ranges
    assert "gemm_peak_fraction" in cal.ranges
    res = ms.simulate(sc, uncertainty=3)
    assert "factor_hbm_fraction" not in res.uncertainty.columns
    # ...unless the scenario gives its own range
    sc2 = _small(**{"hardware.calibration": {"hbm_fraction": 0.9,
                                             "ranges": {"hbm_fraction": [0.85, 0.95]}}})
    assert uncertainty.effective_calibration(sc2).ranges["hbm_fraction"] == (0.85, 0.95)


def test_band_table_and_no_ranges():
    res = ms.simulate(_small(), uncertainty=3)
    t = uncertainty.band_table(res.summary)
    assert set(t.metric) == {"output_tok_s", "ttft_p99_s", "tpot_p99_s", "output_tokens_per_usd"}
    flat = _small(**{"hardware.calibration": {"ranges": {}}})
    s = ms.simulate(flat,
                    calibration=catalog.calibration("maia200").model_copy(update={"ranges": {}}),
                    uncertainty=2).summary
    assert (s.tpot_p99_s_p5 == s.tpot_p99_s).all()
    with pytest.raises(ValueError):
        uncertainty.run(_small(), -1)
