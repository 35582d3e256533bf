"""Serving-stack profiles (``deployment.stack``): defaults as sourced data, explicit settings
override them, and TensorRT-LLM's guaranteed-no-evict policy never preempts."""

import copy

import pytest
from conftest import SMALL

import maiasim as ms
from maiasim import catalog, cli
from maiasim.build import build, build_fleet
from maiasim.scenario import serving

#: what every profile must source (or mark as an assumption)
SOURCED = ("scheduler", "chunked_prefill", "prefix_caching", "memory_semantics", "kv_cache",
           "cuda_graph_gib", "front_end_request_s", "front_end_token_s")


def _sc(stack: str | None = None, **over) -> ms.Scenario:
    d = copy.deepcopy(SMALL)
    if stack:
        d["deployment"]["stack"] = stack
    sc = ms.from_dict(d)
    return sc.with_overrides(over) if over else sc


def test_every_profile_is_sourced():
    assert {"vllm", "vllm-v0", "trtllm", "sglang"} <= set(catalog.stacks())
    for name, st in catalog.stacks().items():
        missing = [k for k in SOURCED if k not in st.sources]
        assert not missing, (name, missing)
        assert ("memory_fraction" in st.sources) or ("memory_reserve" in st.sources), name


def test_default_stack_is_vllm_v1():
    sv = serving(_sc())
    assert sv.stack == "vllm" and sv.policy == "vllm" and sv.chunked_prefill
    assert sv.memory_semantics == "total" and sv.memory_fraction == 0.9
    assert sv.kv_cache == "bf16"  # --kv-cache-dtype auto: the model's dtype


def test_trtllm_profile():
    sv = serving(_sc("trtllm"))
    assert sv.policy == "guaranteed_no_evict" and sv.memory_semantics == "free"
    assert sv.kv_cache == "fp8"  # FP8 checkpoint: FP8 KV
    m = build(_sc("trtllm")).memory
    rest = m.device_bytes - m.weights_bytes - m.activation_bytes - m.cuda_graph_bytes
    assert m.kv_bytes == pytest.approx(0.9 * rest)  # 90% of what is left, not of the total


def test_sglang_fraction_from_its_reserve():
    sc = _sc("sglang", **{"hardware.chip": "h100", "deployment.tensor_parallel": 1,
                          "precision.weights": "fp8"})
    gib = 85.52e9 / 2**30
    assert serving(sc).memory_fraction == pytest.approx(round((gib - 10.0) / gib, 3))


def test_explicit_settings_override_the_stack():
    sv = serving(_sc("trtllm", **{"deployment.scheduler.policy": "max_utilization",
                                  "deployment.scheduler.chunked_prefill": False,
                                  "deployment.scheduler.hbm_utilization": 0.5,
                                  "precision.kv_cache": "bf16",
                                  "deployment.front_end.request_s": 0.02}))
    assert (sv.policy, sv.chunked_prefill, sv.memory_fraction, sv.kv_cache,
            sv.front_end_request_s) == ("max_utilization", False, 0.5, "bf16", 0.02)
    assert sv.memory_semantics == "free"  # the fraction is still read the stack's way


def test_unknown_stack_names_the_field_and_the_choices():
    with pytest.raises(ms.ScenarioError, match=r"deployment.stack(.|\n)*trtllm"):
        _sc("tgi")


def _burst(policy: str) -> ms.Result:
    """One Maia 200 serving Llama-3.1-8B a burst that overcommits its small KV cache."""
    return ms.simulate(ms.from_dict({
        "name": "burst", "seed": 3, "horizon_s": 1,
        "hardware": {"chip": "maia200"}, "model": "llama-3.1-8b",
        "precision": {"kv_cache": "fp8"},
        "deployment": {"replicas": 1, "stack": "trtllm",
                       "scheduler": {"policy": policy, "hbm_utilization": 0.01,
                                     "max_num_seqs": 512}},
        "workload": [{"name": "w", "arrival": {"type": "burst", "count": 300},
                      "prompt_tokens": {"type": "fixed", "value": 256},
                      "output_tokens": {"type": "fixed", "value": 512}}],
    }))


def test_guaranteed_no_evict_never_preempts_where_max_utilization_does():
    packed, safe = _burst("max_utilization"), _burst("guaranteed_no_evict")
    assert packed.requests.preemptions.sum() > 0
    assert safe.requests.preemptions.sum() == 0
    assert (safe.requests.status == "completed").all()
    assert (packed.requests.status == "completed").all()


def test_guaranteed_no_evict_fast_forward_agrees_with_stepping():
    sc = _sc("trtllm", **{"horizon_s": 20, "deployment.scheduler.hbm_utilization": 0.02,
                          "workload.0.arrival.rate_per_s": 20})
    a = ms.simulate(sc)
    b = ms.simulate(sc.with_overrides({"engine.fast_forward": False}))
    cols = ["status", "arrival_s", "first_token_s", "finish_s"]
    assert a.requests.preemptions.sum() == 0
    assert a.requests[cols].equals(b.requests[cols])


def test_catalog_cli_lists_the_stacks(capsys):
    assert cli.main(["catalog", "stacks"]) == 0
    out = capsys.readouterr().out
    assert "guaranteed_no_evict" in out and "sglang" in out and "from reserve" in out


def test_each_pool_of_a_fleet_takes_its_own_stack():
    pool = {"hardware": {"chip": "maia200"}, "model": "llama-3.1-70b",
            "deployment": {"tensor_parallel": 4, "replicas": 1}, "cost": {"chip_hour_usd": 4.25}}
    d = {"name": "f", "seed": 1, "horizon_s": 20, "workload": copy.deepcopy(SMALL["workload"]),
         "fleet": {"pools": [
             {**copy.deepcopy(pool), "name": "a"},
             {**copy.deepcopy(pool), "name": "b",
              "deployment": {"tensor_parallel": 4, "replicas": 1, "stack": "trtllm",
                             "front_end": {"request_s": 0.25}}}]}}
    a, b = build_fleet(ms.from_dict(d)).pools
    assert (a.serving.policy, b.serving.policy) == ("vllm", "guaranteed_no_evict")
    assert (a.precisions.kv_cache, b.precisions.kv_cache) == ("bf16", "fp8")
    req = ms.simulate(ms.from_dict(d)).requests
    done = req[req.status == "completed"]
    assert done[done.pool == "b"].ttft_s.min() > 0.25 > done[done.pool == "a"].ttft_s.min()
