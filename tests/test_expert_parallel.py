"""Expert parallelism for MoE models (issue 12): the step, the all-to-all, load imbalance, the
memory plan, validation, and fast-forward exactness with EP."""

import numpy as np
import pytest

import maiasim as ms
from maiasim import catalog, cli
from maiasim.build import build
from maiasim.errors import ScenarioError
from maiasim.physics import Parallelism, Precisions, StepModel, plan_memory
from maiasim.physics.kernels import gemm_time

FP8 = Precisions("fp8", "fp8", "fp8")


def _step(model="deepseek-v3", chip="gb200", par=None, max_tokens=1024, **chip_over):
    par = par or Parallelism(8)
    c = catalog.chip(chip)
    if chip_over:
        c = c.model_copy(update=chip_over)
    return StepModel(c, catalog.model(model), FP8, par, catalog.calibration(chip),
                     max_tokens=max_tokens)


def _tp_only_moe_experts(st: StepModel, T: np.ndarray) -> np.ndarray:
    """The TP-only routed-expert operator as it was before expert parallelism (per layer, seconds):
    every chip holds a 1/tp slice of every expert and streams the experts the batch touches."""
    m, tp, c = st.model, st.parallel.tensor, st.calib
    h, E, k = m.hidden_size, m.experts, m.active_experts
    touched = E * (1.0 - (1.0 - k / E) ** T)
    rows = np.where(touched > 0, T * k / np.maximum(touched, 1e-9), 0.0)
    res = gemm_time(st.peak_gemm, st.bw, c, FP8.gemm, T, m.expert_params / tp * k,
                    2 * h * k + m.mlp_matrices * m.expert_ffn_size * k / tp, st._wb, st._ab,
                    eff_rows=rows)
    wbytes = touched * m.expert_params / tp * st._wb
    tm = np.where(T > 0, (wbytes + T * (2 * h * k) * st._ab) / (st.bw * c.hbm_fraction), 0.0)
    return np.maximum(res[3], tm) + np.where(T > 0, 2 * c.gemm_latency_s, 0.0)


@pytest.mark.parametrize("model,chip,tp", [("deepseek-v3", "gb200", 8),
                                           ("mixtral-8x7b", "maia200", 4),
                                           ("gpt-oss-120b", "h200", 2)])
def test_ep_one_is_the_tp_only_moe_step_exactly(model, chip, tp):
    st = _step(model, chip, Parallelism(tp), max_tokens=512)
    T = np.arange(513, dtype=float)
    ops = st.token_ops(T)
    assert np.array_equal(ops["moe_experts"][0], st.model.moe_layers * _tp_only_moe_experts(st, T))
    assert "moe_alltoall" not in ops
    # imbalance is a property of EP ranks: with one rank (every chip a slice of every expert) the
    # step is the same whatever it says
    skewed = _step(model, chip, Parallelism(tp, 1, 1, 3.0), max_tokens=512)
    assert skewed._lin == st._lin and skewed._lm == st._lm
    assert skewed.decode_affine(64) == st.decode_affine(64)
    assert Parallelism(tp).chips == tp and Parallelism(tp, 2, 1).chips == 2 * tp


def test_alltoall_is_its_own_op_and_grows_with_tokens_and_slower_links():
    st = _step(par=Parallelism(1, 1, 8))
    small = st.breakdown([], [2000] * 16)
    big = st.breakdown([], [2000] * 512)
    assert small.ops["moe_alltoall"] > 0
    assert big.ops["moe_alltoall"] > small.ops["moe_alltoall"]
    assert big.comm_s == pytest.approx(big.ops["communication"] + big.ops["moe_alltoall"])
    # TP1 attention: no all-reduce at all, the all-to-all is the only collective
    assert big.ops["communication"] == 0
    gb = catalog.chip("gb200")
    slow_tiers = tuple(t.model_copy(update={"bandwidth_bytes_per_s": t.bandwidth_bytes_per_s / 4})
                       for t in gb.scale_up)
    slow = _step(par=Parallelism(1, 1, 8), scale_up=slow_tiers).breakdown([], [2000] * 512)
    assert slow.ops["moe_alltoall"] > big.ops["moe_alltoall"] * 1.2
    # everything else is unchanged by the link speed
    assert slow.ops["moe_experts"] == big.ops["moe_experts"]
    # the breakdown still adds up to the engine's step time
    assert big.total_s == pytest.approx(sum(big.ops.values()) + big.overhead_s, rel=1e-9)


def test_expert_imbalance_slows_the_moe_part_not_the_work():
    even = _step(par=Parallelism(8, 1, 8), max_tokens=8192)
    skew = _step(par=Parallelism(8, 1, 8, 2.0), max_tokens=8192)
    chunk = [(8192, 0)]  # a long prefill chunk: the expert GEMMs are compute-bound
    a, b = even.breakdown(chunk), skew.breakdown(chunk)
    assert b.ops["moe_experts"] > 1.5 * a.ops["moe_experts"]
    assert b.ops["moe_alltoall"] > a.ops["moe_alltoall"]
    assert b.total_s > a.total_s
    for op in ("attn_proj", "moe_router", "moe_shared", "lm_head", "communication"):
        assert b.ops[op] == a.ops[op], op
    # the replica did the same work; only its busiest rank took longer
    assert b.flops == pytest.approx(a.flops) and b.hbm_bytes == pytest.approx(a.hbm_bytes)
    assert skew.step_time(64, 64, 64, 128_000) > even.step_time(64, 64, 64, 128_000)


def test_decode_stays_affine_in_context_with_ep():
    """The engine's fast-forward contract (physics/contract.py) holds with EP and DP attention."""
    for par in (Parallelism(8, 1, 8, 1.5), Parallelism(1, 1, 32, 1.2), Parallelism(4, 2, 16)):
        st = _step(par=par)
        for n in (1, 7, 64, 300):
            a, b = st.decode_affine(n)
            for ctx in (n, 10_000.0, 3_000_000.0):
                assert st.step_time(n, n, n, ctx) == pytest.approx(a + b * ctx, rel=1e-12)
        bd = st.breakdown([(300, 1000)], [2000] * 16)
        pre = st.prefill_attention(300, 1000)[0]
        assert bd.total_s == pytest.approx(st.step_time(316, 17, 16, 32_000, pre), rel=1e-12)
        assert st.step_times([316], [17], [16], [32_000], pre)[0] == pytest.approx(bd.total_s)


def test_memory_per_chip_falls_with_ep_and_dp_attention_frees_kv():
    m, c = catalog.model("deepseek-v3"), catalog.chip("gb200")

    def plan(par):
        return plan_memory(c, m, FP8, par, max_batch_tokens=8192, max_num_seqs=256)

    tp8, ep16, ep32 = plan(Parallelism(8)), plan(Parallelism(8, 1, 16)), plan(Parallelism(8, 1, 32))
    assert tp8.weights_bytes > ep16.weights_bytes > ep32.weights_bytes
    # routed experts dominate: twice the EP ranks roughly halves them
    assert ep16.weights_bytes < 0.6 * tp8.weights_bytes
    # each attention data-parallel group caches its own sequences' KV (MLA is not split by TP)
    assert ep16.kv_capacity_tokens > 2 * tp8.kv_capacity_tokens
    assert ep16.kv_bytes_per_token == tp8.kv_bytes_per_token
    # EP inside the tensor group moves experts between the same chips: routed bytes unchanged,
    # shared experts held by every EP rank
    inside = plan(Parallelism(8, 1, 8))
    shared = m.moe_layers * m.shared_experts * m.expert_params
    assert inside.weights_bytes == pytest.approx(tp8.weights_bytes + shared * (1 - 1 / 8))


def _deepseek(**dep) -> dict:
    return {"name": "ep", "hardware": {"chip": "gb200"}, "model": "deepseek-v3",
            "deployment": {"replicas": 1, **dep},
            "workload": [{"name": "w", "arrival": {"type": "poisson", "rate_per_s": 1.0},
                          "prompt_tokens": {"type": "fixed", "value": 100},
                          "output_tokens": {"type": "fixed", "value": 10}}]}


@pytest.mark.parametrize("dep,model,text", [
    ({"tensor_parallel": 8, "expert_parallel": 8}, "llama-3.1-70b",
     "deployment.expert_parallel: 8 needs a mixture-of-experts model"),
    ({"tensor_parallel": 1, "expert_parallel": 3}, "deepseek-v3",
     "deployment.expert_parallel: 3 does not divide deepseek-v3's 256 experts"),
    ({"tensor_parallel": 2, "expert_parallel": 16}, "mixtral-8x7b",
     "does not divide mixtral-8x7b's 8 experts (allowed with tensor_parallel=2: 1, 2, 4, 8)"),
    ({"tensor_parallel": 8, "expert_parallel": 8, "expert_imbalance": 9.0}, "deepseek-v3",
     "deployment.expert_imbalance: 9 exceeds expert_parallel=8"),
    ({"tensor_parallel": 8, "expert_parallel": 0}, "deepseek-v3", "expert_parallel"),
    ({"tensor_parallel": 8, "expert_imbalance": 0.5}, "deepseek-v3", "expert_imbalance"),
])
def test_bad_expert_parallelism_is_a_clear_error(dep, model, text):
    with pytest.raises(ScenarioError) as e:
        ms.from_dict({**_deepseek(**dep), "model": model})
    assert text in str(e.value)


def test_ep_incompatible_with_tp_and_domain_is_refused():
    moe12 = catalog.model("mixtral-8x7b").model_dump()
    moe12.update(experts=12, heads=48, hf_id="moe12")
    with pytest.raises(ScenarioError, match="neither divides tensor_parallel=4"):
        ms.from_dict({**_deepseek(tensor_parallel=4, expert_parallel=6), "model": moe12})
    with pytest.raises(ScenarioError, match="largest scale-up domain"):
        ms.from_dict({**_deepseek(tensor_parallel=1, expert_parallel=8),
                      "hardware": {"chip": "h100", "chip_overrides": {
                          "scale_up": [{"name": "nvlink", "chips": 4, "topology": "switched",
                                        "bandwidth_bytes_per_s": 4.5e11, "latency_s": 1e-6}]}}})


def test_bad_ep_on_the_cli_exits_2(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("hardware: {chip: gb200, chips: 8}\nmodel: llama-3.1-70b\n"
                 "deployment: {tensor_parallel: 8, expert_parallel: 8}\n"
                 "workload: [{name: w, arrival: {type: poisson, rate_per_s: 1},\n"
                 "  prompt_tokens: {type: fixed, value: 100},\n"
                 "  output_tokens: {type: fixed, value: 10}}]\n")
    assert cli.main(["validate", str(p)]) == 2
    assert "deployment.expert_parallel" in capsys.readouterr().err


def test_chips_per_replica_follow_ep_and_sweeps_rederive_replicas():
    sc = ms.from_dict({**_deepseek(tensor_parallel=2, expert_parallel=16), "deployment": {
        "tensor_parallel": 2, "expert_parallel": 16}, "hardware": {"chip": "gb200", "chips": 64}})
    # a stage is max(TP, EP) chips: 8 attention groups of 2 chips, the experts over all 16
    assert sc.replicas == 4 and sc.chips == 64
    b = build(sc)
    assert b.chips_per_replica == 16 and b.parallel == Parallelism(2, 1, 16, 1.0)
    assert b.parallel.attention_dp == 8 and b.parallel.expert_tensor == 1
    wide = sc.with_overrides({"deployment.expert_parallel": 32})
    assert wide.replicas == 2 and wide.chips == 64
    with pytest.raises(ScenarioError, match=r"not a multiple of max\(tensor_parallel, "
                                            r"expert_parallel\) x pipeline_parallel = 32"):
        ms.from_dict({**_deepseek(), "deployment": {"tensor_parallel": 1, "expert_parallel": 32},
                      "hardware": {"chip": "gb200", "chips": 48}})


def test_fast_forward_is_exact_with_ep():
    sc = ms.from_dict({
        "name": "ep-ff", "seed": 3, "horizon_s": 6, "hardware": {"chip": "gb200", "chips": 16},
        "model": "deepseek-v3",
        "deployment": {"tensor_parallel": 2, "expert_parallel": 16, "expert_imbalance": 1.3,
                       "scheduler": {"max_batch_tokens": 2048, "max_num_seqs": 64}},
        "workload": [{"name": "w", "arrival": {"type": "poisson", "rate_per_s": 6},
                      "prompt_tokens": {"type": "lognormal", "median": 300, "sigma": 0.8,
                                        "max": 4000},
                      "output_tokens": {"type": "lognormal", "median": 80, "sigma": 0.8,
                                        "max": 600}}]})
    ff = ms.simulate(sc.with_overrides({"engine.fast_forward": True}))
    slow = ms.simulate(sc.with_overrides({"engine.fast_forward": False}))
    ra, rb = ff.requests, slow.requests
    assert len(ra) == len(rb) > 10
    assert (ra.status == "completed").all()
    for c in ("first_token_s", "finish_s"):
        np.testing.assert_allclose(ra[c], rb[c], rtol=1e-9, atol=1e-9, err_msg=c)
    assert ff.replicas.output_tokens.tolist() == slow.replicas.output_tokens.tolist()
