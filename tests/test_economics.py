"""The cost model: both bases, an ownership price computed by hand, like-with-like plans, and
bad cost input refused with the field named (issue 13)."""

from __future__ import annotations

import copy
import math

import pytest
from conftest import SMALL

import maiasim as ms
from maiasim import cli
from maiasim.catalog import prices
from maiasim.physics.datacenter import rack_for
from maiasim.physics.ownership import OwnershipTerms, ownership_parts, ownership_usd_per_chip_hour
from maiasim.results.economics import chip_hour_usd
from maiasim.scenario import CostConfig, DatacenterConfig


def _sc(**top):
    d = copy.deepcopy(SMALL)
    d.pop("cost")
    d.update(top)
    return ms.from_dict(d)


def test_ownership_by_hand_matches_the_library():
    """H100 on the catalog's figures, at 500 W measured, by hand."""
    own = prices.chip_economics("h100").ownership
    fac = prices.facility()
    capex = 27500 + 6250 + 5060  # chip + server share + network share (economics.yaml)
    assert capex == (own.chip_capex_usd.value + own.server_capex_usd.value
                     + own.network_capex_usd.value)
    hours = 6 * 8766
    prov = 700 + 4600 / 8 + 50  # TDP + host per tray / 8 chips + network
    by_hand = (capex / hours + 0.068 * 1.12 * 500 / 1000 + 200 * prov / 1000 / (8766 / 12))
    assert (fac.lifetime_years.value, fac.electricity_usd_per_kwh.value, fac.pue.value,
            fac.facility_usd_per_kw_month.value) == (6, 0.068, 1.12, 200)
    usd, basis, source = chip_hour_usd(CostConfig(), "h100", ms.catalog.chip("h100"),
                                       avg_power_w=500.0)
    assert basis == "ownership" and "500 W measured" in source
    assert usd == pytest.approx(by_hand, rel=1e-12)
    t = OwnershipTerms(27500, 6250, 5060, 6, 0.068, 1.12, 200)
    parts = ownership_parts(t, 500, prov)
    assert sum(parts.values()) == pytest.approx(ownership_usd_per_chip_hour(t, 500, prov))
    assert parts["capex"] == pytest.approx(38810 / 52596)


def test_every_priced_chip_has_both_bases_with_sources_and_ranges():
    for name, e in prices.all_chips().items():
        figs = [e.rental_usd_per_chip_hour] if e.rental_usd_per_chip_hour else []
        if e.ownership is not None:
            figs += [e.ownership.chip_capex_usd, e.ownership.server_capex_usd,
                     e.ownership.network_capex_usd]
            assert e.rental_usd_per_chip_hour is not None, name
        for f in figs:
            lo, hi = f.range
            assert lo <= f.value <= hi and f.source
        if e.ownership is None:
            assert e.note.startswith("not priced"), name  # said, never silent
    for name in ("h100", "h200", "b200", "gb200", "mi300x", "maia200"):
        assert prices.chip_economics(name).ownership is not None
    maia = prices.chip_economics("maia200")
    assert "assumption" in maia.rental_usd_per_chip_hour.source
    assert "assumption" in maia.ownership.chip_capex_usd.source


def test_ownership_follows_measured_power_not_tdp():
    idle = ms.simulate(_sc(workload=[{**SMALL["workload"][0],
                                      "arrival": {"type": "poisson", "rate_per_s": 0.05}}]))
    busy = ms.simulate(_sc())
    assert idle.cost_basis == busy.cost_basis == "ownership"
    assert idle.chip_hour_usd < busy.chip_hour_usd
    # a lightly loaded fleet draws near idle, far below TDP
    tdp = ms.catalog.chip("maia200").tdp_w
    avg = idle.summary.energy_j.iloc[-1] / (idle.scenario.chips * idle.duration_s)
    assert avg < 0.45 * tdp


def test_rental_basis_and_a_bare_price_mean_rental():
    r = ms.simulate(_sc(cost={"basis": "rental"}))
    assert r.cost_basis == "rental" and r.chip_hour_usd == 3.00  # the Maia 200 assumption
    assert "MAIA200_RENTAL" in r.cost_source
    s = r.summary
    assert (s.cost_basis == "rental").all() and (s.usd_per_chip_hour == 3.0).all()
    assert _sc(cost={"chip_hour_usd": 2.0}).cost.effective_basis == "rental"
    assert _sc(cost={"chip_hour_usd": 2.0, "basis": "ownership"}).cost.effective_basis == \
        "ownership"


def test_a_chip_without_a_figure_is_nan_and_says_so():
    usd, basis, source = chip_hour_usd(CostConfig(basis="rental"), "maia100",
                                       ms.catalog.chip("maia100"))
    assert math.isnan(usd) and basis == "rental" and "no rental price" in source


def test_attributed_cost_sums_to_the_total_on_both_bases():
    for basis in ("rental", "ownership"):
        r = ms.simulate(_sc(cost={"basis": basis}))
        s = r.summary
        total = r.scenario.chips * r.chip_hour_usd * r.duration_s / 3600
        assert s.cost_usd.iloc[:-1].sum() == pytest.approx(total)
        assert s.cost_usd.iloc[-1] == pytest.approx(total)


@pytest.mark.parametrize("cost, field", [
    ({"ownership": {"lifetime_years": -1}}, "cost.ownership.lifetime_years"),
    ({"ownership": {"chip_capex_usd": -5}}, "cost.ownership.chip_capex_usd"),
    ({"chip_hour_usd": -1}, "cost.chip_hour_usd"),
    ({"basis": "lease"}, "cost.basis"),
])
def test_bad_cost_input_names_the_field_and_exits_2(cost, field, tmp_path, capsys):
    d = copy.deepcopy(SMALL)
    d["cost"] = cost
    with pytest.raises(ms.ScenarioError, match=field.replace(".", r"\.")):
        ms.from_dict(d)
    import yaml

    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert cli.main(["run", str(p), "-q"]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err


def test_run_prints_the_basis(tmp_path, capsys):
    import yaml

    d = copy.deepcopy(SMALL)
    d["horizon_s"] = 10
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert cli.main(["run", str(p), "-q", "--basis", "ownership"]) == 0
    out = capsys.readouterr().out
    assert "cost_basis" in out and "usd_per_chip_hour" in out
    assert "cost basis ownership:" in out
    assert "capex" in out  # the scenario's bare (rental) price is dropped, not relabelled


def test_rack_for_an_inline_chip_invents_nothing():
    rack = rack_for("my-chip", ms.catalog.chip("h100"), DatacenterConfig())
    assert (rack.host_w_per_tray, rack.network_w_per_chip, rack.chips_per_tray) == (0, 0, 1)


def test_uncertainty_bands_sample_price_power_and_pue():
    d = copy.deepcopy(SMALL)
    d.pop("cost")
    d["horizon_s"] = 20
    sc = ms.from_dict(d)
    res = ms.simulate(sc, uncertainty=8)
    u = res.uncertainty
    for k in ("figure_pue", "figure_chip_capex_usd", "figure_power_scale",
              "figure_electricity_usd_per_kwh", "figure_lifetime_years"):
        assert k in u.columns and u[k].nunique() == 8, k
    s = res.summary.iloc[-1]
    assert s.output_tokens_per_usd_p5 < s.output_tokens_per_usd_p50 < s.output_tokens_per_usd_p95
    assert s.output_tokens_per_joule_wall_p5 < s.output_tokens_per_joule_wall_p95
    # a figure the scenario sets is held at its value
    d["cost"] = {"chip_hour_usd": 2.0, "basis": "ownership"}
    held = ms.simulate(ms.from_dict(d), uncertainty=3).uncertainty
    assert (held.usd_per_chip_hour == 2.0).all()


def test_run_price_flag_overrides_on_the_basis(tmp_path, capsys):
    import yaml

    d = copy.deepcopy(SMALL)
    d["horizon_s"] = 5
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert cli.main(["run", str(p), "-q", "--basis", "ownership", "--price", "1.5"]) == 0
    assert "cost basis ownership: $1.500 per chip-hour" in capsys.readouterr().out
    assert cli.main(["run", str(p), "-q", "--price", "-2"]) == 2
    assert "cost.chip_hour_usd" in capsys.readouterr().err
