"""Prefix caching (issue 14): shared prompt prefixes skip prefill and share KV blocks, evicted
least recently used; the hit rate is reported per workload."""

import numpy as np
import pandas as pd
import pytest
from test_engine import _assert_same, _pair

import maiasim as ms
from maiasim import cli
from maiasim.build import build
from maiasim.engine.prefix_cache import PrefixCache
from maiasim.errors import ScenarioError


def _scenario(prefix=None, **over) -> ms.Scenario:
    w = {"name": "w", "arrival": {"type": "poisson", "rate_per_s": 10},
         "prompt_tokens": {"type": "fixed", "value": 100},
         "output_tokens": {"type": "fixed", "value": 40}}
    if prefix is not None:
        w["prefix"] = prefix
    sc = ms.from_dict({"name": "p", "seed": 3, "horizon_s": 30, "hardware": {"chip": "maia200"},
                       "model": "llama-3.1-8b", "deployment": {"replicas": 2}, "workload": [w]})
    return sc.with_overrides(over) if over else sc


def test_shared_prefix_prefills_far_less_and_first_tokens_come_sooner():
    sc = _scenario({"tokens": 1500})
    on = ms.simulate(sc)
    off = ms.simulate(sc.with_overrides({"deployment.scheduler.prefix_caching": False}))
    assert (on.requests.prompt_tokens == 1600).all()  # the prefix comes before the own prompt
    assert on.replicas.prefill_tokens.sum() < 0.15 * off.replicas.prefill_tokens.sum()
    assert on.summary.ttft_p50_s[0] < 0.7 * off.summary.ttft_p50_s[0]
    hit = on.summary.prefix_hit_rate[0]
    assert 0.85 < hit <= 1488 / 1600  # whole 16-token blocks of the 1,500-token prefix
    assert off.summary.prefix_hit_rate[0] == 0.0 and (off.requests.cached_tokens == 0).all()
    # tokens are conserved; a hit reuses whole blocks of its prefix and prefills the rest
    req = on.requests
    assert (req.output_tokens_generated[req.status == "completed"] == 40).all()
    assert set(req.cached_tokens.unique()) <= {0, 1488}
    assert on.replicas.output_tokens.sum() == req.output_tokens_generated.sum()


def test_hit_rate_per_workload():
    sc = _scenario({"tokens": 800, "groups": 4})
    plain = sc.workload[0].model_dump() | {"name": "plain"}
    plain.pop("prefix")
    sc = sc.with_overrides({"workload": [sc.workload[0].model_dump(), plain]})
    s = ms.simulate(sc).summary.set_index("workload")
    assert s.prefix_hit_rate["w"] > 0.7
    assert s.prefix_hit_rate["plain"] == 0.0
    assert 0 < s.prefix_hit_rate["all"] < s.prefix_hit_rate["w"]


def test_no_prefix_gives_identical_frames_with_caching_on_or_off():
    sc = _scenario()
    on = ms.simulate(sc)
    off = ms.simulate(sc.with_overrides({"deployment.scheduler.prefix_caching": False}))
    for name in ("requests", "replicas", "timeline", "summary"):
        pd.testing.assert_frame_equal(getattr(on, name), getattr(off, name))


def _utilization_for(tokens: int) -> float:
    """hbm_utilization that leaves about ``tokens`` of KV cache on one replica."""
    b = build(_scenario())
    m = b.memory
    return (m.weights_bytes + m.activation_bytes + tokens * m.kv_bytes_per_token) / b.chip.hbm_bytes


def test_eviction_under_kv_pressure_lowers_the_hit_rate_and_keeps_kv_within_capacity():
    many = {"tokens": 3000, "groups": 400}
    sc = _scenario(many, **{"deployment.replicas": 1})
    roomy = ms.simulate(sc)
    tight = ms.simulate(sc.with_overrides({  # room for ~20 prefixes
        "deployment.scheduler.hbm_utilization": _utilization_for(60_000)}))
    assert tight.replicas.kv_capacity_tokens[0] < 70_000
    assert tight.summary.prefix_hit_rate[0] < 0.5 * roomy.summary.prefix_hit_rate[0]
    assert tight.summary.prefix_hit_rate[0] > 0
    assert (tight.replicas.kv_peak_frac <= 1.0).all()
    assert (tight.requests.status == "completed").sum() > 0.9 * len(tight.requests)


def test_lru_eviction_order_and_shared_blocks():
    c = PrefixCache(16)
    assert c.insert(1, 100) == 96 and c.insert(2, 40) == 32 and c.insert(3, 10) == 0
    assert c.acquire(1) == (96, False)  # in use by two sequences: counted once, already
    assert c.release(1) == 0 and c.release(1) == 96  # unused: free capacity now
    assert c.release(2) == 32
    assert c.free == 128
    assert c.acquire(1) == (96, True)  # reused: counts as used again, and is the most recent
    assert c.release(1) == 96
    c.evict(100)  # the least recently released goes first: 2, then 1 is enough
    assert list(c.entries) == [1] and c.free == 96
    c.evict(0)
    assert not c.entries and c.free == 0


@pytest.mark.parametrize("case", ["poisson", "tight_kv", "no_chunking"])
def test_fast_forward_is_exact_with_prefix_caching(case):
    over = {"horizon_s": 20}
    if case == "tight_kv":
        over |= {"deployment.replicas": 1, "workload.0.arrival": {"type": "burst", "count": 150},
                 "workload.0.output_tokens.value": 400,
                 "deployment.scheduler.hbm_utilization": _utilization_for(30_000)}
    if case == "no_chunking":
        over |= {"deployment.scheduler.chunked_prefill": False}
    sc = _scenario({"tokens": 700, "groups": 30}, **over)
    ff, st = _pair(sc)
    _assert_same(ff, st)
    assert (ff.requests.cached_tokens == st.requests.cached_tokens).all()
    assert ff.summary.prefix_hit_rate[0] > 0
    if case == "tight_kv":
        assert ff.replicas.preemptions.sum() > 0  # the case does preempt with shared blocks


def test_deterministic():
    sc = _scenario({"tokens": 700, "groups": 30})
    a, b = ms.simulate(sc), ms.simulate(sc)
    for name in ("requests", "replicas", "timeline", "summary"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = ms.simulate(sc.with_overrides({"seed": 4}))
    assert not np.array_equal(a.requests.cached_tokens, c.requests.cached_tokens) or \
        not a.requests.arrival_s.equals(c.requests.arrival_s)


def test_prefix_affinity_routing_keeps_groups_on_one_replica():
    sc = _scenario({"tokens": 1500, "groups": 40}, **{"deployment.replicas": 4,
                                                       "workload.0.arrival.rate_per_s": 20})
    spread = ms.simulate(sc.with_overrides({"router.policy": "round_robin"}))
    home = ms.simulate(sc.with_overrides({"router.policy": "prefix_affinity"}))
    assert home.summary.prefix_hit_rate[0] > spread.summary.prefix_hit_rate[0] + 0.02
    req = home.requests
    assert req.groupby(req.replica).size().min() > 0  # every replica takes some groups


def test_bad_prefix_is_a_clear_error():
    with pytest.raises(ScenarioError, match="prefix"):
        _scenario({"tokens": 0})
    with pytest.raises(ScenarioError, match="groups"):
        _scenario({"tokens": 10, "groups": 0})


def test_cli_reports_the_hit_rate(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\nhorizon_s: 10\nmodel: llama-3.1-8b\ndeployment: {replicas: 1}\n"
        "router: {policy: prefix_affinity}\n"
        "workload:\n- name: w\n  arrival: {type: poisson, rate_per_s: 5}\n"
        "  prompt_tokens: {type: fixed, value: 100}\n  output_tokens: {type: fixed, value: 20}\n"
        "  prefix: {tokens: 1000, groups: 2}\n")
    assert cli.main(["run", str(path), "-q", "--no-plots", "-o", str(tmp_path / "out")]) == 0
    s = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert s.prefix_hit_rate[0] > 0.5
    assert "cached_tokens" in pd.read_csv(tmp_path / "out" / "requests.csv").columns


def _chat(**over) -> ms.Scenario:
    sc = _scenario(**{"horizon_s": 300, "workload.0.arrival": {
        "type": "closed_loop", "concurrency": 16, "count": 400, "think_time_s": 1.0},
        "workload.0.prompt_tokens.value": 200, "workload.0.output_tokens.value": 100,
        "workload.0.session": {"turns": 5}})
    return sc.with_overrides(over) if over else sc


def test_conversation_turns_resend_their_context_and_hit_the_cache():
    sc = _chat(**{"router.policy": "prefix_affinity"})
    on = ms.simulate(sc)
    off = ms.simulate(sc.with_overrides({"deployment.scheduler.prefix_caching": False}))
    req = on.requests
    # turn j's prompt is the previous turns' prompts and answers plus a 200-token message
    assert set(req.prompt_tokens.unique()) == {200, 500, 800, 1100, 1400}
    assert (off.requests.prompt_tokens == req.prompt_tokens).all()
    # every later turn finds its conversation on its home replica: (0+288+592+896+1200) / 4000
    assert on.summary.prefix_hit_rate[0] == pytest.approx(2976 / 4000, abs=0.01)
    assert on.replicas.prefill_tokens.sum() < 0.3 * off.replicas.prefill_tokens.sum()
    assert on.summary.ttft_p50_s[0] < off.summary.ttft_p50_s[0]
    spread = ms.simulate(sc.with_overrides({"router.policy": "round_robin"}))
    assert spread.summary.prefix_hit_rate[0] < on.summary.prefix_hit_rate[0] - 0.1
    ff, st = _pair(sc.with_overrides({"horizon_s": 60}))
    _assert_same(ff, st)


def test_session_needs_a_closed_loop_and_no_prefix():
    with pytest.raises(ScenarioError, match="closed_loop"):
        _scenario(**{"workload.0.session": {"turns": 3}})
    with pytest.raises(ScenarioError, match="session and prefix"):
        _chat(**{"workload.0.prefix": {"tokens": 100}})
    with pytest.raises(ScenarioError, match="turns"):
        _chat(**{"workload.0.session.turns": 1})


def test_the_stack_decides_unless_the_scenario_does():
    sc = _scenario({"tokens": 1500})
    assert ms.simulate(sc).summary.prefix_hit_rate[0] > 0.8  # vllm (V1): on
    v0 = sc.with_overrides({"deployment.stack": "vllm-v0"})
    assert ms.simulate(v0).summary.prefix_hit_rate[0] == 0.0  # V0: off by default
    on = v0.with_overrides({"deployment.scheduler.prefix_caching": True})
    assert ms.simulate(on).summary.prefix_hit_rate[0] > 0.8
    for stack in ("trtllm", "sglang"):
        assert ms.simulate(sc.with_overrides({"deployment.stack": stack})).summary \
            .prefix_hit_rate[0] > 0.8
