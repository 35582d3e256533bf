"""Fleets: several pools behind a fleet router, disaggregated prefill/decode, SLO classes and
cost attribution (issue 12)."""

import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL

import maiasim as ms
from maiasim.build import build_fleet
from maiasim.physics.transfer import kv_transfer_bytes, transfer_time

POOL = {"hardware": {"chip": "maia200"}, "model": "llama-3.1-70b",
        "deployment": {"tensor_parallel": 4, "replicas": 2}, "cost": {"chip_hour_usd": 4.25}}


def _fleet(pools, workloads=None, **top) -> dict:
    d = {"name": "fleet", "seed": 7, "horizon_s": 60,
         "fleet": {"pools": pools, **top.pop("fleet", {})},
         "workload": workloads or copy.deepcopy(SMALL["workload"])}
    d.update(top)
    return d


def _pool(name, **over) -> dict:
    p = copy.deepcopy(POOL)
    p["name"] = name
    for k, v in over.items():
        p[k] = {**p[k], **v} if isinstance(v, dict) and isinstance(p.get(k), dict) else v
    return p


def _disagg(bw=None, **top) -> dict:
    kt = {} if bw is None else {"path": "scale_out", "scale_out_bandwidth_bytes_per_s": bw}
    return _fleet([_pool("pre", role="prefill", deployment={"replicas": 1}),
                   _pool("dec", role="decode", deployment={"replicas": 1})],
                  fleet={"kv_transfer": kt}, **top)


def _conserved(res) -> None:
    req = res.requests
    assert req.status.notna().all()
    done = req[req.status == "completed"]
    assert (done.output_tokens_generated == done.output_tokens).all()
    s = res.summary.set_index("workload").loc["all"]
    assert s.completed + s.rejected + s.dropped + s.in_flight == s.requests == len(req)


# ---- one pool is today's scenario ------------------------------------------------------------


def test_a_fleet_of_one_pool_gives_the_frames_of_the_single_pool_scenario():
    single = ms.simulate(ms.from_dict(copy.deepcopy(SMALL)))
    pool = _pool("maia200", deployment={"tensor_parallel": 4, "replicas": 2})
    fleet = ms.simulate(ms.from_dict(_fleet([pool], horizon_s=60, seed=42)))
    for frame in ("summary", "requests", "replicas", "timeline", "pools"):
        pd.testing.assert_frame_equal(getattr(single, frame), getattr(fleet, frame), obj=frame)


def test_a_single_pool_scenario_has_one_pool_named_after_its_chip(small):
    assert [p.name for p in small.pools] == ["maia200"]
    assert small.pool().chip_spec() == small.chip_spec()
    assert ms.simulate(small).pools.pool.tolist() == ["maia200"]


# ---- the scenario refuses what a fleet cannot mean ------------------------------------------


@pytest.mark.parametrize("data, match", [
    (_fleet([_pool("a")], hardware={"chip": "h100", "chips": 8}), "with fleet, give hardware"),
    (_fleet([_pool("a"), _pool("a")]), "pool names must be unique"),
    (_fleet([_pool("a"), _pool("b", model="llama-3.1-8b")]), "workload.0.model"),
    (_fleet([_pool("a")], [{**SMALL["workload"][0], "model": "qwen3-8b"}]),
     "no mixed or prefill pool serves model 'qwen3-8b'"),
    (_fleet([_pool("a", role="prefill")]), "prefill pool 'a' has no decode pool"),
    (_fleet([_pool("a", deployment={"tensor_parallel": 3})]), "fleet.pools.0"),
    (_fleet([_pool("a")], fleet={"router": "fastest"}), "fleet.router"),
    (_fleet([_pool("a", slo_classes=["batch"])]), "SLO class 'default'"),
])
def test_bad_fleets_are_refused_naming_the_field(data, match):
    with pytest.raises(ms.ScenarioError, match=match):
        ms.from_dict(data)


def test_a_fleet_scenario_round_trips_through_yaml_and_overrides():
    sc = ms.from_dict(_disagg())
    again = ms.from_dict(__import__("yaml").safe_load(sc.to_yaml()))
    assert again == sc
    bigger = sc.with_overrides({"fleet.pools.1.deployment.replicas": 3})
    assert bigger.pools[1].replicas == 3 and bigger.chips == 16


def test_the_cli_runs_and_validates_a_fleet(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_text(ms.from_dict(_disagg(horizon_s=20)).to_yaml())
    for cmd in (["validate", str(f)], ["run", str(f), "-o", str(tmp_path / "out")]):
        p = subprocess.run([sys.executable, "-m", "maiasim", *cmd], capture_output=True,
                           text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        assert "pre:" in p.stdout and "dec:" in p.stdout
    assert (tmp_path / "out" / "pools.csv").is_file()
    assert (tmp_path / "out" / "breakdown.png").is_file()


# ---- disaggregation --------------------------------------------------------------------------


def test_disaggregated_requests_are_conserved_across_the_hand_off():
    res = ms.simulate(ms.from_dict(_disagg()))
    _conserved(res)
    req = res.requests
    done = req[(req.status == "completed") & (req.output_tokens > 1)]
    assert len(done) > 100
    assert (done.pool == "dec").all() and (done.prefill_replica == 0).all()
    assert (done.replica == 1).all() and (done.kv_transfer_s > 0).all()
    assert (done.first_token_s + done.kv_transfer_s <= done.finish_s).all()
    pools = res.pools.set_index("pool")
    # the prefill pool makes each first token, the decode pool the rest: no token twice
    assert pools.loc["pre", "output_tokens"] == len(req[req.output_tokens_generated > 0])
    assert pools.output_tokens.sum() == req.output_tokens_generated.sum()


def test_a_run_cut_during_transfers_leaves_them_in_flight_with_a_reason():
    res = ms.simulate(ms.from_dict(_disagg(bw=1e6, horizon_s=10, engine={"drain": False})))
    _conserved(res)
    moving = res.requests[res.requests.reason == "kv_transfer_at_end"]
    assert len(moving) > 0 and (moving.status == "in_flight").all()
    assert (moving.output_tokens_generated == 1).all()


def test_a_transfer_over_a_slower_link_takes_proportionally_longer():
    light = {"workload": [{**SMALL["workload"][0], "arrival": {"type": "poisson",
                                                                "rate_per_s": 0.2}}]}
    fast = ms.simulate(ms.from_dict(_disagg(bw=50e9, **light))).requests
    slow = ms.simulate(ms.from_dict(_disagg(bw=25e9, **light))).requests
    lat = 10e-6
    a = fast.kv_transfer_s.dropna().to_numpy() - lat
    b = slow.kv_transfer_s.dropna().to_numpy() - lat
    assert len(a) == len(b) > 5
    np.testing.assert_allclose(b, 2 * a, rtol=1e-9)  # no contention at this load
    model = ms.from_dict(_disagg()).pools[0].model_spec()
    p = int(fast.dropna(subset=["kv_transfer_s"]).prompt_tokens.iloc[0])
    want = transfer_time(kv_transfer_bytes(model, "bf16", p), 4 * 50e9, lat)  # vllm: BF16 KV
    assert a[0] + lat == pytest.approx(want)


def test_transfers_that_share_a_link_queue_for_it():
    burst = {"workload": [{**SMALL["workload"][0], "arrival": {"type": "burst", "count": 64}}]}
    res = ms.simulate(ms.from_dict(_disagg(bw=1e9, **burst)))
    t = res.requests.kv_transfer_s.dropna().sort_values().to_numpy()
    model = ms.from_dict(_disagg()).pools[0].model_spec()
    alone = res.requests.prompt_tokens.map(
        lambda p: transfer_time(kv_transfer_bytes(model, "fp8", p), 4e9, 10e-6))
    assert t.max() > 2 * alone.max()  # later transfers waited for the link


@pytest.mark.parametrize("ff", [True, False])
def test_fast_forward_stays_exact_in_decode_pools(ff):
    sc = ms.from_dict(_disagg(engine={"fast_forward": ff}))
    other = ms.from_dict(_disagg(engine={"fast_forward": not ff}))
    a, b = ms.simulate(sc).requests, ms.simulate(other).requests
    pd.testing.assert_frame_equal(a, b, rtol=1e-9)


# ---- routing across pools --------------------------------------------------------------------


def _two_prices(policy: str, rate: float, ttft_s: float = 2.0) -> ms.Result:
    wl = [{**SMALL["workload"][0], "arrival": {"type": "poisson", "rate_per_s": rate},
           "slo": {"ttft_p99_s": ttft_s}}]
    return ms.simulate(ms.from_dict(_fleet(
        [_pool("dear", cost={"chip_hour_usd": 9.0}), _pool("cheap")], wl,
        fleet={"router": policy})))


def test_routing_policies_differ_where_they_should():
    least = _two_prices("least_load", 2.0).requests.pool.value_counts()
    cost = _two_prices("cost_aware", 2.0).requests.pool.value_counts()
    assert least["dear"] > 0.3 * least.sum()  # least-load spreads the load over both pools
    assert cost.get("dear", 0) == 0  # cost-aware keeps it on the cheaper pool while SLOs hold
    spill = _two_prices("spill_over", 2.0).requests.pool.value_counts()
    assert spill["dear"] > 0.9 * spill.sum()  # spill-over fills the first pool first


def test_cost_aware_spills_to_the_dearer_pool_when_the_cheap_one_cannot_meet_the_slo():
    busy = _two_prices("cost_aware", 40.0, ttft_s=0.05).requests.pool.value_counts()
    assert busy["dear"] > 0 and busy["cheap"] > busy["dear"]


def test_slo_admission_rejects_with_a_reason_instead_of_queueing():
    wl = [{**SMALL["workload"][0], "arrival": {"type": "poisson", "rate_per_s": 200},
           "slo": {"ttft_p99_s": 0.5}}]
    res = ms.simulate(ms.from_dict(_fleet([_pool("a")], wl, fleet={"admission": "slo"})))
    _conserved(res)
    req = res.requests
    rej = req[req.status == "rejected"]
    assert len(rej) > 0 and (rej.reason == "slo_admission").all()
    open_loop = ms.simulate(ms.from_dict(_fleet([_pool("a")], wl))).summary.iloc[-1]
    assert res.summary.iloc[-1].ttft_p99_s < open_loop.ttft_p99_s


def test_a_higher_priority_class_waits_less_in_the_same_pool():
    base = SMALL["workload"][0]
    wl = [{**base, "name": "vip", "slo_class": "interactive", "priority": -1,
           "arrival": {"type": "poisson", "rate_per_s": 40}},
          {**base, "name": "bulk", "slo_class": "batch",
           "arrival": {"type": "poisson", "rate_per_s": 40}}]
    res = ms.simulate(ms.from_dict(_fleet([_pool("a", deployment={"replicas": 1})], wl)))
    s = res.summary.set_index("workload")
    assert s.loc["vip", "ttft_p90_s"] < 0.5 * s.loc["bulk", "ttft_p90_s"]
    by = res.summary_by("slo_class")
    assert by.slo_class.tolist() == ["interactive", "batch", "all"]


def test_pools_serve_only_their_slo_classes():
    base = SMALL["workload"][0]
    wl = [{**base, "name": "chat", "slo_class": "interactive"},
          {**base, "name": "batch", "slo_class": "batch"}]
    res = ms.simulate(ms.from_dict(_fleet(
        [_pool("fast", slo_classes=["interactive"]), _pool("slow", slo_classes=["batch"])], wl)))
    req = res.requests
    assert (req[req.workload == "chat"].pool == "fast").all()
    assert (req[req.workload == "batch"].pool == "slow").all()


# ---- cost and energy attributed --------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: _fleet([_pool("dear", cost={"chip_hour_usd": 9.0}), _pool("cheap")]),
    _disagg,
    lambda: _fleet([_pool("used"), _pool("idle", model="llama-3.1-8b",
                                         deployment={"tensor_parallel": 1})],
                   [{**SMALL["workload"][0], "model": "llama-3.1-70b", "tenant": "t1"},
                    {**SMALL["workload"][0], "name": "other", "model": "llama-3.1-70b",
                     "tenant": "t2"}]),
])
def test_attributed_cost_sums_to_the_fleet_cost_exactly(make):
    res = ms.simulate(ms.from_dict(make()))
    total = res.pools.cost_usd.sum()
    assert total == pytest.approx(res.summary.iloc[-1].cost_usd, rel=1e-12)
    assert res.requests.cost_usd.sum() == pytest.approx(total, rel=1e-9)
    for by in ("tenant", "slo_class", "workload", "pool"):
        assert res.cost_by(by).cost_usd.sum() == pytest.approx(total, rel=1e-9)
    rows = res.summary[res.summary.workload != "all"]
    assert rows.cost_usd.sum() == pytest.approx(total, rel=1e-9)
    assert rows.energy_j.sum() == pytest.approx(res.summary.iloc[-1].energy_j, rel=1e-9)


def test_a_pool_of_two_chips_reports_each_pool():
    res = ms.simulate(ms.from_dict(_fleet(
        [_pool("maia"), _pool("gpu", hardware={"chip": "h200"}, cost={"chip_hour_usd": 5.0})])))
    p = res.pools.set_index("pool")
    assert p.loc["gpu", "chip"] == "h200" and p.loc["maia", "chip"] == "maia200"
    assert p.loc["gpu", "cost_usd"] == pytest.approx(8 * 5.0 * res.duration_s / 3600)
    rp = res.replicas
    assert rp.pool.tolist() == ["maia", "maia", "gpu", "gpu"]
    assert res.breakdown("gpu").attrs["pool"] == "gpu"
    with pytest.raises(ms.ScenarioError, match="fleet of 2 pools"):
        _ = res.step_model


# ---- planning and comparing fleets -------------------------------------------------------------


def test_plan_fleet_sizes_each_pool_and_verifies_by_simulation():
    from maiasim.studies.fleet_plan import plan_fleet

    busy = [{**SMALL["workload"][0], "arrival": {"type": "poisson", "rate_per_s": 100},
             "slo": {"ttft_p99_s": 1.0, "tpot_p99_s": 0.05}}]
    sc = ms.from_dict(_fleet([_pool("pre", role="prefill", deployment={"replicas": 1}),
                              _pool("dec", role="decode", deployment={"replicas": 1})], busy,
                             horizon_s=30))
    df = plan_fleet(sc, max_replicas=16).set_index("pool")
    fleet = df.loc["fleet"]
    assert bool(fleet.feasible) and bool(fleet.verified)
    sizes = {"pre": int(df.loc["pre", "replicas"]), "dec": int(df.loc["dec", "replicas"])}
    assert sum(sizes.values()) > 2  # one of each was not enough at this load
    assert not df.loc["pre", "fewer_meets_slo"] and not df.loc["dec", "fewer_meets_slo"]
    again = ms.simulate(sc.with_overrides({
        "fleet.pools.0.deployment.replicas": sizes["pre"],
        "fleet.pools.1.deployment.replicas": sizes["dec"]}))
    assert ms.results.slo.result_verdict(again)[0]


def test_a_sweep_compares_a_mixed_and_a_disaggregated_fleet_with_linked_keys():
    df = ms.sweep(ms.from_dict(_disagg(horizon_s=20)),
                  {"fleet.pools.0.role+fleet.pools.1.role": [["mixed", "mixed"],
                                                             ["prefill", "decode"]]},
                  executor="serial", progress=False)
    assert df.iloc[:, 0].tolist() == ["mixed+mixed", "prefill+decode"]
    assert df.error.isna().all() and (df.chips == 8).all()
    with pytest.raises(ms.ScenarioError, match="list of 2 values"):
        ms.sweep(ms.from_dict(_disagg()), {"fleet.pools.0.role+fleet.pools.1.role": ["mixed"]},
                 executor="serial", progress=False)


def test_a_request_dropped_in_the_prefill_pool_is_not_handed_off():
    """A queue timeout in a prefill pool used to hand the dropped request to the decode pool,
    which then completed it: two end states for one request."""
    wl = [{**SMALL["workload"][0], "arrival": {"type": "burst", "count": 200}}]
    d = _disagg(workload=wl)
    d["fleet"]["pools"][0]["deployment"]["scheduler"] = {"queue_timeout_s": 0.5}
    res = ms.simulate(ms.from_dict(d))
    _conserved(res)
    req = res.requests
    dropped = req[req.status == "dropped"]
    assert len(dropped) > 0 and (dropped.reason == "queue_timeout").all()
    assert dropped.kv_transfer_s.isna().all() and (dropped.prefill_replica == -1).all()


def test_cost_is_attributed_even_when_every_request_is_refused():
    """Found by fuzzing: with no work done the pools' cost was attributed to nobody."""
    wl = [{**SMALL["workload"][0], "prompt_tokens": {"type": "fixed", "value": 600}}]
    d = _fleet([_pool("a", deployment={"scheduler": {"chunked_prefill": False,
                                                     "max_batch_tokens": 512}})], wl)
    res = ms.simulate(ms.from_dict(d))
    assert (res.requests.status == "rejected").all()
    assert res.requests.cost_usd.sum() == pytest.approx(res.pools.cost_usd.sum(), rel=1e-12)


def test_the_transfer_path_follows_placement():
    """H100 pools racked in order: the prefill replica (chips 0-3) shares an 8-GPU NVLink domain
    with the first decode replica (4-7) but not with the second (8-11), whose transfers take the
    next tier out (the catalog's InfiniBand)."""
    h100 = {"hardware": {"chip": "h100"}, "cost": {"chip_hour_usd": 4.0}}
    light = [{**SMALL["workload"][0], "arrival": {"type": "poisson", "rate_per_s": 1.0}}]
    d = _fleet([_pool("pre", role="prefill", deployment={"replicas": 1}, **h100),
                _pool("dec", role="decode", deployment={"replicas": 2}, **h100)], light,
               horizon_s=120)
    req = ms.simulate(ms.from_dict(d)).requests.dropna(subset=["kv_transfer_s"])
    b = build_fleet(ms.from_dict(d)).pools[0]
    nvlink = b.chip.scale_up[0]
    for _, r in req.iterrows():
        nbytes = kv_transfer_bytes(b.model, b.precisions.kv_cache, int(r.prompt_tokens))
        tier = nvlink if r.replica == 1 else b.chip.scale_up[1]  # then the catalog's InfiniBand
        want = transfer_time(nbytes, 4 * tier.bandwidth_bytes_per_s, tier.latency_s)
        assert r.kv_transfer_s == pytest.approx(want, rel=1e-9), r.replica
    assert set(req.replica) == {1, 2}
