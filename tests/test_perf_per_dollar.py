"""The perf-per-dollar study (issue 13): chips sized by plan, both cost bases, claims as ratios
with their break-even price, and every assumption in one table."""

import math

import pytest

import maiasim as ms
from maiasim.studies.perf_per_dollar import CLAIMS, assumptions, claims, compare

SMALL = {
    "name": "ppd", "seed": 1, "horizon_s": 60,
    "hardware": {"chip": "maia200", "chips": 4}, "model": "llama-3.1-8b",
    "precision": {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"},
    "deployment": {"tensor_parallel": 1},
    "workload": [{"name": "w", "arrival": {"type": "poisson", "rate_per_s": 4},
                  "prompt_tokens": {"type": "fixed", "value": 500},
                  "output_tokens": {"type": "fixed", "value": 100},
                  "slo": {"ttft_p99_s": 2.0, "tpot_p99_s": 0.1}}],
}


@pytest.fixture(scope="module")
def fleets():
    return compare(ms.from_dict(SMALL), chips=("maia200", "h200"), precisions=("fp8",),
                   tp=(1,), max_replicas=4)


def test_every_chip_is_sized_and_priced_on_both_bases(fleets):
    assert fleets.chip.tolist() == ["maia200", "h200"] and fleets.feasible.all()
    for _, r in fleets.iterrows():
        assert r.replicas >= 1 and r.ttft_p99_s <= 2.0
        assert r.usd_per_chip_hour_ownership > 0 and r.usd_per_chip_hour_rental > 0
        # rental tokens per dollar follows from the rental price alone
        want = r.output_tok_s * 3600 / (r.chips * r.usd_per_chip_hour_rental)
        assert r.output_tokens_per_usd_rental == pytest.approx(want, rel=1e-9)
        assert r.output_tok_s_per_facility_mw < r.output_tok_s_per_rack_kw * 1e3


def test_claims_are_ratios_with_their_break_even_price(fleets):
    c = claims(fleets, peers=("h200",))
    assert set(c.claim) == set(CLAIMS)
    me, peer = fleets.iloc[0], fleets.iloc[1]
    row = c[c.claim == "perf_per_dollar"].iloc[0]
    ratio = me.output_tokens_per_usd_ownership / peer.output_tokens_per_usd_ownership
    assert row.ratio == pytest.approx(ratio) and row.holds == (ratio >= 1.3)
    # at the break-even price the ratio is exactly the target
    assert row.breakeven_usd_per_chip_hour == pytest.approx(
        me.usd_per_chip_hour_ownership * ratio / 1.3)
    rack = c[c.claim == "tokens_under_equal_rack_power"].iloc[0]
    assert rack.ratio == pytest.approx(me.output_tok_s_per_rack_kw / peer.output_tok_s_per_rack_kw)
    assert math.isnan(rack.breakeven_usd_per_chip_hour)


def test_every_assumption_is_in_the_table_with_its_source():
    a = assumptions().set_index("chip")
    assert set(a.index) == {"maia200", "gb200", "b200", "h200"}
    assert a.loc["maia200", "chip_capex_usd_source"].startswith("assumption (E)")
    assert a.loc["maia200", "chip_capex_usd_range"] == "10000-35000"
    assert a.loc["b200", "calibration"] == "generic"
    for c in ("gemm_peak_fraction", "hbm_fraction", "iteration_overhead_s"):
        assert a[c].notna().all(), c
