"""Power from activity, racks and rack power caps (issue 13): the fitted shape, energy
conservation from the chip to the wall, a capped rack never faster, bad budgets refused."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from conftest import SMALL

import maiasim as ms
from maiasim import cli
from maiasim.build import build
from maiasim.catalog import prices
from maiasim.physics.power import cap_for_budget, clock_ratio
from tools import fit_power


def _sc(**over):
    d = copy.deepcopy(SMALL)
    d["horizon_s"] = 30
    for k, v in over.items():
        d[k] = v
    return ms.from_dict(d)


def test_the_catalog_power_shape_is_the_fit_and_the_held_out_model_is_close():
    d = fit_power.runs()
    train = d[d.model.isin(fit_power.FIT_MODELS)]
    test = d[d.model.isin(fit_power.HELD_OUT)]
    idle, a, b = fit_power.fit(train)
    shape = prices.power_shape()
    assert (round(idle, 4), round(a, 4), round(b, 4)) == (shape.idle, shape.a_mfu, shape.b_mbu)
    err = fit_power.predict(test, (idle, a, b)) - test.average_power.to_numpy()
    assert np.abs(err).mean() < 0.03  # held-out BLOOM-176B: within 3% of TDP on average


def test_energy_is_conserved_chip_to_rack_to_wall():
    r = ms.simulate(_sc())
    e = r.energy
    chips, dur = r.scenario.chips, r.duration_s
    assert e.chip_j == pytest.approx(r.replicas.energy_j.sum())
    assert e.rack_j == pytest.approx(e.chip_j + e.host_j + e.network_j)
    assert e.wall_j == pytest.approx(e.rack_j * e.pue)
    rack = r.rack
    assert e.host_j == pytest.approx(rack.trays(chips) * rack.host_w_per_tray * dur)
    assert e.network_j == pytest.approx(chips * rack.network_w_per_chip * dur)
    s = r.summary
    for col in ("energy_j", "energy_rack_j", "energy_wall_j"):
        assert s[col].iloc[:-1].sum() == pytest.approx(s[col].iloc[-1])
    assert s.energy_rack_j.iloc[-1] == pytest.approx(e.rack_j)
    assert s.energy_wall_j.iloc[-1] == pytest.approx(e.wall_j)
    # the timeline's power integrates to the replicas' energy
    tl = r.timeline
    width = np.diff(np.append(tl.time_s.to_numpy(), dur))
    assert (tl.power_w * width).sum() == pytest.approx(e.chip_j, rel=1e-6)
    assert (tl.power_rack_w * width).sum() == pytest.approx(e.rack_j, rel=1e-6)


def test_chip_power_stays_between_idle_and_its_limit():
    r = ms.simulate(_sc())
    rack = r.rack
    chip_s = r.replicas.chips * r.duration_s
    avg = r.replicas.energy_j / chip_s
    assert (avg >= rack.idle_w - 1e-9).all() and (avg <= rack.cap_w + 1e-9).all()


def test_clock_ratio_is_the_cube_law():
    assert clock_ratio(1000, 1000, 0.3) == 1.0
    assert clock_ratio(300, 1000, 0.3) == 0.0
    assert clock_ratio(650, 1000, 0.3) == pytest.approx(0.5 ** (1 / 3))


def test_a_capped_rack_is_never_faster():
    free = _sc()
    rack = ms.simulate(free).rack
    full = rack.rack_peak_w()
    last = None
    for frac in (1.0, 0.9, 0.75, 0.6):
        sc = _sc(datacenter={"rack_power_budget_w": full * frac})
        b = build(sc)
        t = b.step.step_time(4096, 1, 0, 0.0)  # a compute-bound prefill step
        if last is not None:
            assert t >= last
        last = t
    capped = ms.simulate(_sc(datacenter={"rack_power_budget_w": full * 0.6}))
    uncapped = ms.simulate(free)
    assert capped.rack.freq < 1.0
    cs, us = capped.summary.iloc[-1], uncapped.summary.iloc[-1]
    assert cs.ttft_mean_s >= us.ttft_mean_s and cs.e2e_mean_s >= us.e2e_mean_s
    assert cs.rack_kw <= full * 0.6 / 1e3 + 1e-9


def test_catalog_budget_and_budget_pieces():
    cap, f, trays = cap_for_budget(10_000, 1000, 0.3, 4, 2, 1000, 50)
    assert trays == 2 and cap == pytest.approx((5000 - 1000) / 4 - 50)
    assert f == pytest.approx(clock_ratio(cap, 1000, 0.3))
    sc = _sc(hardware={"chip": "gb200"}, model="llama-3.1-8b",
             deployment={"tensor_parallel": 1, "replicas": 2},
             datacenter={"rack_power_budget_w": "catalog"})
    b = build(sc)
    assert b.chip.peak_tflops == ms.catalog.chip("gb200").peak_tflops  # 120 kW covers the rack


@pytest.mark.parametrize("budget, msg", [(1000.0, "below one tray's idle power"),
                                         ("catalog", "no rated rack power")])
def test_a_budget_below_one_idle_tray_is_an_error(budget, msg, tmp_path, capsys):
    d = copy.deepcopy(SMALL)
    d["datacenter"] = {"rack_power_budget_w": budget}
    if budget == "catalog":
        d["hardware"] = {"chip": "trainium3"}
        d["precision"] = {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"}
    with pytest.raises(ms.ScenarioError, match="datacenter.rack_power_budget_w"):
        build(ms.from_dict(d))
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    assert cli.main(["run", str(p), "-q"]) == 2
    err = capsys.readouterr().err
    assert msg in err and "datacenter.rack_power_budget_w" in err


def test_racks_and_tokens_per_rack_kw():
    r = ms.simulate(_sc())
    s = r.summary.iloc[-1]
    rack = r.rack
    assert s.racks == 1 and rack.chips_per_tray == 4  # 8 Maia 200 chips: 2 trays, one rack
    assert s.output_tok_s_per_rack_kw == pytest.approx(
        s.output_tok_s / (8 * rack.provisioned_w_per_chip() / 1e3))


def test_oversubscription_what_if_fits_more_racks_at_the_measured_peak():
    r = ms.simulate(_sc())
    o = r.oversubscription(1e6)  # a 1 MW IT budget
    assert o["rack_w_measured_peak"] <= o["rack_w_rated"]
    assert o["racks_at_rated"] == int(1e6 // o["rack_w_rated"])
    assert o["racks_at_measured_peak"] >= o["racks_at_rated"] and o["more_racks_frac"] >= 0


def test_a_fleet_sums_its_pools_energy_and_names_each_pools_basis():
    from maiasim.scenario import load_scenario

    sc = load_scenario("scenarios/fleet-maia200-gb200-two-tenants.yaml", {"horizon_s": 20})
    r = ms.simulate(sc)
    e = r.energy
    assert e.rack_j == pytest.approx(e.chip_j + e.host_j + e.network_j)
    assert e.wall_j == pytest.approx(e.rack_j * e.pue)
    assert e.chip_j == pytest.approx(r.replicas.energy_j.sum())
    s = r.summary
    assert s.energy_rack_j.iloc[-1] == pytest.approx(e.rack_j)
    assert s.energy_rack_j.iloc[:-1].sum() == pytest.approx(e.rack_j)  # attributed, no joule lost
    pools = r.pools
    assert (pools.cost_basis == "rental").all() and r.cost_basis == "rental"
    assert pools.cost_usd.sum() == pytest.approx(s.cost_usd.iloc[-1])
    own = load_scenario("scenarios/fleet-maia200-gb200-two-tenants.yaml",
                        {"horizon_s": 20, "fleet.pools.1.cost": {"basis": "ownership"}})
    assert ms.simulate(own).cost_basis == "mixed"
