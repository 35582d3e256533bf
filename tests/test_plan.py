"""Planner: minimal replicas per (chip, TP) that meet the SLOs, verified, ranked by cost."""

import math

import pandas as pd
import pytest
import yaml

import maiasim as ms
from maiasim import cli
from maiasim.results.slo import result_verdict
from maiasim.studies.plan import plan, rank

BASE = {
    "name": "plan-small",
    "seed": 3,
    "horizon_s": 30,
    "hardware": {"chip": "maia200"},
    "model": "llama-3.1-70b",
    "deployment": {"tensor_parallel": 1, "replicas": 1},
    "workload": [{
        "name": "chat",
        "arrival": {"type": "poisson", "rate_per_s": 15},
        "prompt_tokens": {"type": "lognormal", "median": 1000, "sigma": 0.8, "max": 8000},
        "output_tokens": {"type": "lognormal", "median": 200, "sigma": 0.6, "max": 1000},
        "slo": {"ttft_p99_s": 0.5, "tpot_p99_s": 0.03},
    }],
    "cost": {"chip_hour_usd": 4.25},
}


@pytest.fixture(scope="module")
def sc():
    return ms.from_dict(BASE)


@pytest.fixture(scope="module")
def table(sc):
    return plan(sc, chips=["maia200", "h100", "gb200"], tp=[1, 4])


def _meets(sc, chip, tp, n) -> bool:
    """Independent of the planner: every workload row of the summary has slo_met True."""
    res = ms.simulate(sc.with_overrides({"hardware.chip": chip, "deployment.tensor_parallel": tp,
                                         "deployment.replicas": n}))
    rows = res.summary[res.summary.workload != "all"]
    return bool(rows.slo_met.all())


def test_one_row_per_chip_and_tp(table):
    assert len(table) == 6
    assert set(zip(table.chip, table.tensor_parallel, strict=True)) == {
        (c, t) for c in ("maia200", "h100", "gb200") for t in (1, 4)}


def test_chosen_replicas_are_minimal_and_verified(sc, table):
    feas = table[table.feasible]
    assert len(feas) >= 4
    assert (feas.verified == True).all() and (feas.fewer_meets_slo == False).all()  # noqa: E712
    assert feas.replicas.max() > 1, "the scenario should need more than one replica somewhere"
    for _, r in feas.iterrows():
        n = int(r.replicas)
        assert _meets(sc, r.chip, int(r.tensor_parallel), n)
        if n > 1:
            assert not _meets(sc, r.chip, int(r.tensor_parallel), n - 1)
        assert r.chips == n * r.tensor_parallel
        # exponential probe + binary search, not a scan: at most 2*log2(n)+1 searches plus 2 checks
        assert r.simulations <= 2 * math.ceil(math.log2(n)) + 3


def test_ranked_by_cost_with_unpriced_chips_last(table):
    feas = table[table.feasible]
    assert feas["rank"].tolist() == list(range(1, len(feas) + 1))
    priced = feas[feas.cost_per_hour_usd.notna()]
    assert priced.cost_per_hour_usd.is_monotonic_increasing
    assert (priced.cost_per_hour_usd == priced.chips * priced.chip_hour_usd).all()
    # like with like: the scenario's bare price means rental, and every chip is priced by rental
    # (the catalog has a rental figure for each of these three, Maia 200's a named assumption)
    assert (feas.cost_basis == "rental").all() and feas.cost_per_hour_usd.notna().all()
    ranked = rank(pd.DataFrame({"chip": ["a", "b", "c"], "tensor_parallel": 1,
                                "feasible": True, "cost_per_hour_usd": [float("nan"), 2.0, 1.0],
                                "output_tokens_per_usd": 1.0}))
    assert ranked.chip.tolist() == ["c", "b", "a"]  # an unpriced plan ranks last
    # the scenario's own price applies to its own chip only; h100 uses its catalog price
    assert (feas[feas.chip == "maia200"].chip_hour_usd == 4.25).all()
    assert (feas[feas.chip == "h100"].cost_source.str.contains("catalog")).all()


def test_model_that_does_not_fit_is_an_infeasible_row(sc):
    df = plan(sc.with_overrides({"model": "llama-3.1-405b", "workload.0.arrival.rate_per_s": 1}),
              chips=["maia200"], tp=[1, 8])
    assert df.tensor_parallel.tolist() == [8, 1]  # infeasible rows come after every feasible one
    assert df.feasible.tolist() == [True, False]
    r = df.iloc[1]
    assert r.reason.startswith("DoesNotFit") and pd.isna(r["rank"]) and r.simulations == 0


def test_replica_cap_makes_an_infeasible_row_with_the_reason(sc):
    df = plan(sc.with_overrides({"workload.0.slo.ttft_p99_s": 0.001}), chips=["maia200"], tp=[4],
              max_replicas=3)
    r = df.iloc[0]
    assert not r.feasible and "max_replicas=3" in r.reason and "ttft_p99_s" in r.reason
    assert r.simulations == 3  # 1, 2, then the cap itself


def test_prices_rank_a_chip_without_catalog_price(sc):
    df = plan(sc, chips=["maia200", "gb200"], tp=[4], prices={"gb200": 1.0})
    assert df.iloc[0].chip == "gb200" and df.iloc[0].cost_per_hour_usd == df.iloc[0].chips * 1.0
    assert df.iloc[0].cost_source.startswith("plan prices")


def test_processes_executor_gives_the_same_plan(sc):
    a = plan(sc, chips=["maia200", "h100"], tp=[1, 4], executor="serial")
    b = plan(sc, chips=["maia200", "h100"], tp=[1, 4], executor="processes", max_workers=2)
    pd.testing.assert_frame_equal(a, b)


def test_bad_inputs(sc):
    with pytest.raises(ms.ScenarioError, match="unknown chip"):
        plan(sc, chips=["maia999"])
    with pytest.raises(ms.ScenarioError, match="slo"):
        plan(sc.with_overrides({"workload.0.slo": {}}))
    with pytest.raises(ms.ScenarioError, match="prices"):
        plan(sc, chips=["maia200"], prices={"h100": 3.0})
    with pytest.raises(ms.ScenarioError, match="max_replicas"):
        plan(sc, max_replicas=0)


def test_slo_verdict_explains_failures(sc):
    ok, why = result_verdict(ms.simulate(sc))
    assert not ok and "chat: ttft_p99_s" in why


@pytest.fixture
def scenario_file(tmp_path):
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(BASE))
    return p


def test_cli_plan_writes_csv_and_plot(scenario_file, tmp_path, capsys):
    out, png = tmp_path / "plan.csv", tmp_path / "plan.png"
    rc = cli.main(["plan", str(scenario_file), "--chips", "maia200,gb200", "--tp", "1,4",
                   "--executor", "serial", "-o", str(out), "--plot", str(png)])
    assert rc == 0
    df = pd.read_csv(out)
    assert len(df) == 4 and df.feasible.all()
    assert png.stat().st_size > 10_000
    text = capsys.readouterr().out
    best = text.split("best: ")[1].splitlines()[0]
    assert df.chip.iloc[0] in best and f"{df.cost_per_hour_usd.iloc[0]:,.2f}" in best
    assert "cost basis: rental for every chip" in text  # the scenario's bare price: rental


def test_cli_plan_exit_codes(scenario_file):
    # nothing feasible: 1
    assert cli.main(["plan", str(scenario_file), "--tp", "1", "--set", "model=llama-3.1-405b",
                     "--executor", "serial"]) == 1
    # bad input: 2
    assert cli.main(["plan", str(scenario_file), "--tp", "four"]) == 2
    assert cli.main(["plan", str(scenario_file), "--chips", "nope"]) == 2
    assert cli.main(["plan", str(scenario_file), "--price", "gb200"]) == 2


def test_plan_prices_every_chip_on_one_basis_and_says_so(tmp_path, capsys):
    d = {**BASE, "model": "llama-3.1-8b", "horizon_s": 10, "cost": {}}
    d["workload"] = [{**BASE["workload"][0], "arrival": {"type": "poisson", "rate_per_s": 2}}]
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    for basis in ("ownership", "rental"):
        out_csv = tmp_path / f"{basis}.csv"
        assert cli.main(["plan", str(p), "--chips", "maia200,h100", "--tp", "1", "-q",
                         "--executor", "serial", "--basis", basis, "-o", str(out_csv)]) == 0
        out = capsys.readouterr().out
        assert f"cost basis: {basis} for every chip (like with like" in out
        df = pd.read_csv(out_csv)
        assert (df.cost_basis == basis).all() and df.chip_hour_usd.notna().all()
    assert cli.main(["plan", str(p), "--chips", "maia200", "--tp", "1", "-q",
                     "--executor", "serial", "--price", "maia200=-1"]) == 2
