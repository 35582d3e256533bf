"""Calibration as data: every chip has sourced factors with ranges; the fit recovers known factors;
`maiasim calibrate` writes a usable YAML; collectives follow the topology tiers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import small_scenario

import maiasim as ms
from maiasim import catalog
from maiasim.calibrate import fit, parameters, readers
from maiasim.physics import (
    Parallelism,
    Precisions,
    StepModel,
    elementwise_kernels,
    elementwise_time,
    gemm_time,
)
from maiasim.physics.network import (
    allgather_time,
    allreduce_time,
    alltoall_time,
    bus_bandwidth,
    group_fanouts,
)
from maiasim.spec.calibration import SAMPLED_FACTORS, Calibration
from maiasim.spec.hardware import ChipSpec

FACTORS = (
    "gemm_peak_fraction",
    "gemm_half_tokens",
    "hbm_fraction",
    "attention_prefill_fraction",
    "attention_decode_hbm_fraction",
    "allreduce_fraction",
    "alltoall_fraction",
    "iteration_overhead_s",
)


# ---- the shipped calibration files ---------------------------------------------------------------


@pytest.mark.parametrize("chip", sorted(catalog.chips()))
def test_every_chip_has_a_sourced_calibration_with_ranges(chip):
    path = catalog.calibration_path(chip)
    assert path.is_file(), f"no calibration file for {chip}"
    cal = catalog.calibration(chip)
    assert cal.chip == chip
    for f in (
        FACTORS
    ):  # every factor is sourced (or covered by an 'all' line) and has an uncertainty range
        assert f in cal.sources or "all" in cal.sources, (chip, f)
        assert f in cal.ranges, (chip, f)
    for name, (lo, hi) in cal.ranges.items():
        v = cal.gemm_fraction("default") if name == "gemm_peak_fraction" else getattr(cal, name)
        assert lo <= v <= hi, f"{chip}: nominal {name}={v} outside its range {lo}-{hi}"
    for p in catalog.chip(chip).peak_tflops:  # every supported precision resolves to a fraction
        assert 0 < cal.gemm_fraction(p) <= 1
    text = " ".join(cal.sources.values())
    assert "HARDWARE_FACTS" in text or "fitted" in text or "no measured data" in text, chip


def test_maia200_rests_on_the_vendor_measured_factors():
    c = catalog.calibration("maia200")
    assert c.gemm_fraction("fp8") == pytest.approx(4.5 / 5.072, abs=0.005)
    assert c.gemm_fraction("fp4") == pytest.approx(8.6 / 10.145, abs=0.005)
    assert c.allreduce_fraction == pytest.approx(0.93)
    assert c.alltoall_fraction == pytest.approx(
        0.655 / 0.7, abs=0.001
    )  # 47% of 1.4 TB/s = 94% of the 0.7 TB/s bound
    assert c.attention_prefill_fraction == pytest.approx(1.65 / 5.072, abs=0.005)
    assert c.ranges["hbm_fraction"] == (
        0.51,
        0.75,
    )  # memory-bound matmul 51-56% .. decode demo >70%
    assert all(
        "§1b" in c.sources[k]
        for k in ("gemm_peak_fraction", "hbm_fraction", "allreduce_fraction", "alltoall_fraction")
    )


def test_fitted_gpus_say_what_they_were_fitted_on():
    for chip in ("h100", "a100"):
        c = catalog.calibration(chip)
        assert "vidur" in c.fitted_on
        assert "fitted" in c.sources["gemm_peak_fraction"] and "fitted" in c.sources["hbm_fraction"]


def test_scenario_override_deep_merges_and_moves_predictions():
    base = small_scenario()
    faster = small_scenario(
        **{"hardware.calibration": {"hbm_fraction": 0.75, "gemm_peak_fraction": {"bf16": 0.5}}}
    )
    c0, c1 = base.calibration(), faster.calibration()
    assert (
        c1.hbm_fraction == 0.75 and c0.hbm_fraction == catalog.calibration("maia200").hbm_fraction
    )
    assert c1.gemm_fraction("fp8") == c0.gemm_fraction(
        "fp8"
    )  # other precisions kept by the deep merge
    assert c1.gemm_fraction("bf16") == 0.5
    t0 = ms.simulate(base).summary.iloc[-1].tpot_p50_s
    t1 = ms.simulate(faster).summary.iloc[-1].tpot_p50_s
    assert t1 < t0


# ---- new factors keep old behaviour by default ---------------------------------------------------


def _step(cal, model="llama-3.1-70b", tp=4, chip="maia200", max_tokens=512):
    return StepModel(
        catalog.chip(chip),
        catalog.model(model),
        Precisions(),
        Parallelism(tp),
        cal,
        max_tokens=max_tokens,
    )


def test_new_factors_default_to_no_effect():
    c = Calibration()
    assert c.gemm_latency_s == 0 and c.layer_launch_s == 0 and c.collective_half_bytes == 0
    assert (
        c.collective_rank_latency_s == 0
        and c.per_token_overhead_s == 0
        and c.allreduce_knee_slowdown == 0
    )
    assert c.collective_efficiency(0.8, 1e3) == 0.8


def test_gemm_latency_and_launch_floor():
    base = Calibration(iteration_overhead_s=0.0)
    lat = base.model_copy(update={"gemm_latency_s": 10e-6})
    s0, s1 = _step(base), _step(lat)
    # 80 layers x (qkv + o + 2 mlp kernels) + lm head
    assert s1.step_time(1, 1, 1, 100) - s0.step_time(1, 1, 1, 100) == pytest.approx(
        (80 * 4 + 1) * 10e-6, rel=1e-6
    )
    floor = base.model_copy(update={"layer_launch_s": 1e-3})  # 80 ms of host launches per step
    s2 = _step(floor)
    assert s2.step_time(1, 1, 1, 100) >= 80e-3
    assert s2.step_time(512, 1, 0, 0) >= 80e-3
    b = s2.breakdown([(200, 0)], [100] * 4)
    assert b.total_s == pytest.approx(sum(b.ops.values()) + b.overhead_s, rel=1e-9)
    a, k = s2.decode_affine(8)
    assert s2.step_time(8, 8, 8, 5000) == pytest.approx(a + k * 5000, rel=1e-12)


def test_prefill_floor_applies_only_to_steps_with_prompt_tokens():
    base = Calibration(iteration_overhead_s=0.0, layer_launch_s=1e-4)
    pre = base.model_copy(update={"prefill_layer_launch_s": 1e-3})
    assert base.prefill_launch_s == 1e-4 and pre.prefill_launch_s == 1e-3
    s0, s1 = _step(base), _step(pre)
    # decode-only steps: unchanged; a step with a prompt chunk pays the 80-layer x 1 ms host floor
    assert s1.step_time(8, 8, 8, 4000) == s0.step_time(8, 8, 8, 4000)
    assert s1.step_time(64, 1, 0, 0) >= 80e-3 > s0.step_time(64, 1, 0, 0)
    assert s1.step_time(72, 9, 8, 4000) >= 80e-3  # mixed (chunked) step: prompt tokens present
    b = s1.breakdown([(64, 0)], [500] * 8)
    assert b.total_s == pytest.approx(
        s1.step_time(72, 9, 8, 4000.0, s1.prefill_attention(64, 0)[0]), rel=1e-12
    )
    assert b.total_s == pytest.approx(sum(b.ops.values()) + b.overhead_s, rel=1e-9)


def test_allreduce_knee_switches_regime_at_the_knee():
    base = catalog.calibration("h100")
    knee = base.model_copy(
        update={
            "allreduce_knee_tokens": 2048.0,
            "allreduce_knee_slowdown": 2.0,
            "allreduce_knee_width": 0.1,
        }
    )
    assert np.allclose(base.allreduce_knee([1, 4096]), 1.0)
    # a logistic in log tokens: half the slowdown at the knee, the whole of it a factor of 4 beyond
    m = knee.allreduce_knee([0, 1, 512, 2048, 8192, 65536])
    np.testing.assert_allclose(m, [1.0, 1.0, 1.0, 2.0, 3.0, 3.0], atol=1e-5)
    assert np.all(np.diff(knee.allreduce_knee(np.geomspace(1, 1e6, 200))) >= 0)  # never speeds up
    s0, s1 = (_step(c, "llama-2-70b", 8, "h100", max_tokens=8192) for c in (base, knee))
    c0, c1 = (s.breakdown([(8192, 0)]).ops["communication"] for s in (s0, s1))
    assert c1 == pytest.approx(3.0 * c0, rel=1e-5)
    assert s1.step_time(512, 1, 0, 0) == pytest.approx(
        s0.step_time(512, 1, 0, 0), rel=1e-6
    )  # far below: unchanged
    one = [
        _step(c, "llama-2-70b", 1, "h100", max_tokens=4096) for c in (base, knee)
    ]  # TP1: no all-reduce
    assert one[0].step_time(4096, 1, 0, 0) == one[1].step_time(4096, 1, 0, 0)


def test_collective_rank_latency_grows_with_group_size():
    chip = catalog.chip("h100")
    base = Calibration(collective_overhead_s=0.0)
    rank = base.model_copy(update={"collective_rank_latency_s": 10e-6})
    for p in (
        2,
        4,
        8,
    ):  # an all-reduce of p chips pays (p - 1) rank latencies, an all-gather half of them
        assert allreduce_time(chip, rank, p, 1e6) - allreduce_time(
            chip, base, p, 1e6
        ) == pytest.approx((p - 1) * 10e-6)
        assert allgather_time(chip, rank, p, 1e6) - allgather_time(
            chip, base, p, 1e6
        ) == pytest.approx((p - 1) * 5e-6)
        assert alltoall_time(chip, rank, p, 1e6) - alltoall_time(
            chip, base, p, 1e6
        ) == pytest.approx((p - 1) * 10e-6)
    assert allreduce_time(chip, rank, 1, 1e6) == 0.0
    # in a step: two all-reduces per layer, so TP8 Llama-2-70B decode pays 160 x 7 x 10 us = 11.2 ms
    s0, s1 = (_step(c, "llama-2-70b", 8, "h100") for c in (base, rank))
    assert s1.step_time(1, 1, 1, 100) - s0.step_time(1, 1, 1, 100) == pytest.approx(
        160 * 7 * 10e-6, rel=1e-6
    )


def test_per_token_overhead_is_serial_per_batch_token():
    base = Calibration(
        iteration_overhead_s=0.0, layer_launch_s=1e-3
    )  # a host floor the GPU work sits under
    tok = base.model_copy(update={"per_token_overhead_s": 20e-6})
    s0, s1 = _step(base), _step(tok)
    # not hidden under the launch floor: every batch token adds its cost, prompt and decode tokens
    # alike
    assert s1.step_time(512, 1, 0, 0) - s0.step_time(512, 1, 0, 0) == pytest.approx(
        512 * 20e-6, rel=1e-9
    )
    assert s1.step_time(16, 16, 16, 8000) - s0.step_time(16, 16, 16, 8000) == pytest.approx(
        16 * 20e-6, rel=1e-9
    )
    b = s1.breakdown([(100, 0)], [400] * 4)
    assert b.total_s == pytest.approx(sum(b.ops.values()) + b.overhead_s, rel=1e-9)
    a, k = s1.decode_affine(8)
    assert s1.step_time(8, 8, 8, 5000) == pytest.approx(a + k * 5000, rel=1e-12)


def test_per_sequence_cost_counts_every_sampled_row():
    base = Calibration(iteration_overhead_s=0.0)
    ps = base.model_copy(update={"per_sequence_overhead_s": 1e-3})
    s0, s1 = _step(base), _step(ps)
    assert s1.step_time(16, 16, 16, 8000) - s0.step_time(16, 16, 16, 8000) == pytest.approx(
        16e-3, rel=1e-9
    )
    assert s1.step_time(512, 4, 0, 0) - s0.step_time(512, 4, 0, 0) == pytest.approx(4e-3, rel=1e-9)


def test_step_times_matches_step_time_beyond_the_table():
    cal = catalog.calibration("h100").model_copy(
        update={
            "layer_launch_s": 1e-4,
            "prefill_layer_launch_s": 3e-4,
            "allreduce_knee_tokens": 1000.0,
            "allreduce_knee_slowdown": 1.5,
            "allreduce_knee_width": 0.4,
            "per_sequence_overhead_s": 2e-4,
            "per_token_overhead_s": 5e-6,
            "collective_rank_latency_s": 8e-6,
        }
    )
    s = _step(cal, "llama-2-70b", 4, "h100", max_tokens=4096)
    cases = [
        (1, 1, 1, 500.0, 0.0),
        (4096, 2, 0, 0.0, 0.01),
        (64, 64, 64, 64000.0, 0.0),
        (300, 5, 3, 900.0, 0.002),
    ]
    for T, n, d, ctx, pre in cases:
        assert s.step_times([T], [n], [d], [ctx], pre)[0] == pytest.approx(
            s.step_time(T, n, d, ctx, pre), rel=1e-12
        )
    small = _step(cal, "llama-2-70b", 4, "h100", max_tokens=1)
    assert small.step_times([4096], [2], [0], [0.0], 0.01)[0] == pytest.approx(
        s.step_time(4096, 2, 0, 0.0, 0.01), rel=1e-12
    )


def test_collective_efficiency_by_message_size():
    chip = catalog.chip("h100")
    flat = Calibration(collective_overhead_s=0.0)
    sized = flat.model_copy(update={"collective_half_bytes": 1e6})
    small, big = 1e5, 1e9
    eff = sized.collective_efficiency(flat.allreduce_fraction, small)
    assert eff == pytest.approx(0.8 * small / (small + 1e6))
    extra = 2 * 7 / 8 * small / 450e9 * (1 / eff - 1 / 0.8)  # one NVLink tier, 8 GPUs
    assert allreduce_time(chip, sized, 8, small) - allreduce_time(
        chip, flat, 8, small
    ) == pytest.approx(extra, rel=1e-9)
    assert allreduce_time(chip, sized, 8, big) == pytest.approx(
        allreduce_time(chip, flat, 8, big), rel=0.01
    )


def test_log_sampling_centres_on_the_geometric_middle():
    c = Calibration(ranges={"iteration_overhead_s": (1e-4, 1e-2), "hbm_fraction": (0.5, 0.9)})
    rng = np.random.default_rng(0)
    draws = [c.sample(rng) for _ in range(400)]
    assert np.median([d.iteration_overhead_s for d in draws]) == pytest.approx(1e-3, rel=0.3)
    assert all(0.5 <= d.hbm_fraction <= 0.9 for d in draws)


def test_sampled_factor_names_are_fittable_or_fixed():
    for name in SAMPLED_FACTORS:
        assert name in parameters.PARAMS or f"{name}.bf16" in parameters.PARAMS, name


def test_every_calibration_factor_has_a_search_range_its_field_accepts():
    # the factors are Calibration's fields; the fit adds only a search range to each
    assert set(parameters.SEARCH) == set(parameters.factor_fields())
    assert {p.field for p in parameters.PARAMS.values()} == set(parameters.factor_fields())
    for name, p in parameters.PARAMS.items():
        assert p.lo < p.hi and (p.lo > 0 or not p.log), name
        for v in (p.lo, p.hi):  # validated like any calibration: a range outside the field fails
            assert parameters.get_param(parameters.set_params(Calibration(), {name: v}), name) == v


def test_unknown_factor_names_list_the_fittable_ones():
    with pytest.raises(ValueError, match="cannot fit 'bogus'.*hbm_fraction"):
        parameters.param_names("gemm", names=["bogus"])
    assert parameters.param_names("gemm", "fp8")[0] == "gemm_peak_fraction.fp8"


# ---- fitting -------------------------------------------------------------------------------------


def _synthetic_matmul(cal: Calibration, chip="a100") -> pd.DataFrame:
    spec = catalog.chip(chip)
    rows = [(m, 12288, 12288) for m in (1, 8, 32, 64, 128, 256, 512, 1024, 4096, 16384)]
    rows += [(8192, n, n) for n in (64, 256, 1024, 2048, 4096, 8192, 16384)]
    M, K, N = (np.array(c, float) for c in zip(*rows, strict=True))
    t = gemm_time(
        spec.peak_flops("bf16"),
        spec.hbm_bandwidth_bytes_per_s,
        cal,
        "bf16",
        M,
        K * N,
        K + N,
        2.0,
        2.0,
    )[0]
    return pd.DataFrame(
        {
            "op": "matmul",
            "M": M.astype(int),
            "K": K.astype(int),
            "N": N.astype(int),
            "tokens": M.astype(int),
            "measured_s": t,
        }
    )


def test_fit_recovers_known_gemm_factors():
    truth = Calibration(
        gemm_peak_fraction={"default": 0.8, "bf16": 0.62},
        gemm_half_tokens=150.0,
        hbm_fraction=0.71,
        gemm_latency_s=7e-6,
    )
    cases = _synthetic_matmul(truth)
    cal, rep = fit.fit_calibration(
        "a100", "matmul", "synthetic.csv", base=Calibration(), cases=cases, fit_all=True
    )
    assert cal.gemm_fraction("bf16") == pytest.approx(0.62, rel=0.03)
    assert cal.hbm_fraction == pytest.approx(0.71, rel=0.03)
    assert cal.gemm_half_tokens == pytest.approx(150.0, rel=0.15)
    assert cal.gemm_latency_s == pytest.approx(7e-6, rel=0.2)
    assert rep.error_pct.abs().max() < 2.0
    assert set(rep.split) == {fit.FIT}
    assert "fitted by maiasim.calibrate.fit" in cal.sources["hbm_fraction"]


def test_split_rules_are_deterministic_and_documented():
    cases = pd.DataFrame(
        {
            "tp": [1, 2, 4, 8],
            "workers": [2, 4, 8, 2],
            "prompt": [128, 256, 512, 512],
            "batch": [1, 1, 2, 4],
            "tokens": [128, 128, 128, 256],
        }
    )
    assert list(fit.split_rows("gemm", cases)) == ["fit", "held-out", "fit", "held-out"]
    assert list(fit.split_rows("allreduce", cases)) == ["fit", "held-out", "fit", "fit"]
    assert list(fit.split_rows("iteration", cases)) == ["fit", "held-out", "held-out", "held-out"]
    with pytest.raises(ValueError, match="unknown kind"):
        fit.split_rows("nope", cases)


def test_calibrate_cli_writes_a_loadable_yaml(tmp_path):
    truth = Calibration(
        gemm_peak_fraction={"default": 0.7, "bf16": 0.7},
        gemm_half_tokens=80.0,
        hbm_fraction=0.8,
        gemm_latency_s=5e-6,
    )
    cases = _synthetic_matmul(truth)
    csv = tmp_path / "matmul.csv"
    with open(csv, "w") as f:  # LLMCompass format: M, N, K, latency, TFLOPS
        for r in cases.itertuples():
            f.write(f"{r.M}, {r.N}, {r.K}, {r.measured_s * 1e3:.6f}ms, 1.0Tflops\n")
    out, rep = tmp_path / "a100.yaml", tmp_path / "rep.csv"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "maiasim.cli",
            "calibrate",
            "a100",
            "matmul",
            str(csv),
            "-o",
            str(out),
            "--report",
            str(rep),
            "--all",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert "gemm_peak_fraction.bf16" in p.stdout
    cal = Calibration.model_validate(yaml.safe_load(out.read_text()))
    assert cal.gemm_fraction("bf16") == pytest.approx(0.7, rel=0.03)
    assert len(pd.read_csv(rep)) == len(cases)
    # the written file works as a scenario override
    sc = small_scenario(**{"hardware.calibration": {"hbm_fraction": cal.hbm_fraction}})
    assert sc.calibration().hbm_fraction == pytest.approx(cal.hbm_fraction)
    bad = subprocess.run(
        [sys.executable, "-m", "maiasim.cli", "calibrate", "nochip", "matmul", str(csv)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown chip" in bad.stderr and "Traceback" not in bad.stderr
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "maiasim.cli",
            "calibrate",
            "a100",
            "matmul",
            str(csv),
            "--params",
            "bogus",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "cannot fit" in bad.stderr


# ---- topology-aware collectives (issue item 3) ---------------------------------------------------


def test_maia200_groups_use_the_tiers_they_span():
    chip = catalog.chip("maia200")
    names = lambda p: [(t.name, f) for t, f in group_fanouts(chip, p)]  # noqa: E731
    assert names(4) == [("tray", 4)]
    assert names(8) == [("tray", 4), ("ethernet-t0", 2)]
    assert names(48) == [("tray", 4), ("ethernet-t0", 12)]
    assert names(96) == [("tray", 4), ("ethernet-t0", 12), ("ethernet-t1", 2)]
    with pytest.raises(ValueError, match="exceeds the largest scale-up domain"):
        group_fanouts(chip, 6145)


def test_maia200_pools_tray_and_switched_ports():
    chip, cal = catalog.chip("maia200"), catalog.calibration("maia200")
    m = 2**30
    bw = {p: bus_bandwidth(chip, cal, p, m) for p in (2, 4, 8, 16, 48, 96)}
    # the 20 tray ports and 8 switched ports are one NIC: TP8 reaches 93% of the whole 1.4 TB/s
    # (Microsoft measured 1,298 GB/s), the cross-tray quarter of the data fits the 0.4 TB/s tier
    assert bw[8] == pytest.approx(0.93 * 1.4e12, rel=0.01)
    assert bw[4] == pytest.approx(0.93 * 1.4e12, rel=0.01)  # the switch reaches tray peers too
    # a pair uses its one direct tray link (1/3 of the tray's 1.0 TB/s) plus the switched ports
    assert bw[2] == pytest.approx(0.93 * (1.0e12 / 3 + 0.4e12), rel=0.02)
    # the T1 tier (the T0 switches' uplinks, 1:3 oversubscribed) is not pooled
    assert bw[96] < bw[48]
    # all-to-all at TP8 is bounded by the cross-tray traffic (half the message) on the 0.4 TB/s tier
    t = alltoall_time(chip, cal, 8, m)
    assert t == pytest.approx(
        cal.collective_overhead_s + 1e-6 + 2e-6 + 0.5 * m / (0.4e12 * cal.alltoall_fraction),
        rel=1e-6,
    )
    assert 0.875 * m / t == pytest.approx(655e9, rel=0.01)  # Microsoft: 655 GB/s per chip
    # all-gather moves half an all-reduce's traffic
    ar, ag = allreduce_time(chip, cal, 8, m), allgather_time(chip, cal, 8, m)
    assert ag == pytest.approx(cal.collective_overhead_s + (ar - cal.collective_overhead_s) / 2)


def test_unpooled_tiers_run_one_after_another():
    chip, cal = catalog.chip("maia200"), catalog.calibration("maia200")
    tiers = tuple(t.model_copy(update={"pooled": False}) for t in chip.scale_up)
    seq = chip.model_copy(update={"scale_up": tiers})
    m = 2**30
    # hierarchical and sequential: 1.5 m over the tray links, then m / 4 over the 0.4 TB/s tier
    expect = (
        cal.collective_overhead_s
        + 2 * 1e-6
        + 2 * 2e-6
        + (1.5 * m / 1.0e12 + 0.25 * m / 0.4e12) / cal.allreduce_fraction
    )
    assert allreduce_time(seq, cal, 8, m) == pytest.approx(expect, rel=1e-9)
    assert bus_bandwidth(seq, cal, 8, m) < 0.9 * bus_bandwidth(
        seq, cal, 4, m
    )  # TP8 pays the switched tier
    assert bus_bandwidth(seq, cal, 4, m) == pytest.approx(0.93 * 1.0e12, rel=0.02)
    with pytest.raises(ValueError, match="pooled"):
        ChipSpec.model_validate(
            {**chip.model_dump(), "scale_up": [{**chip.scale_up[0].model_dump(), "pooled": True}]}
        )


def test_full_mesh_pairs_use_one_link():
    mi, mc = catalog.chip("mi300x"), catalog.calibration("mi300x")
    m = 2**28
    # 8 GPUs fully connected by 7 links of 64 GB/s: a pair has one link, a group of 4 three, all 8
    # seven
    for p, links in ((2, 1), (4, 3), (8, 7)):
        assert bus_bandwidth(mi, mc, p, m) == pytest.approx(
            mc.allreduce_fraction * links * 64e9, rel=0.02
        )


def test_gpu_nvlink_domains():
    m = 256 * 2**20
    h, hc = catalog.chip("h100"), catalog.calibration("h100")
    assert [t.name for t, _ in group_fanouts(h, 8)] == ["nvlink4"]
    # TP16 leaves the NVLink domain: hierarchically only 1/8 of the data crosses InfiniBand.
    # HARDWARE_FACTS §5 measured cross-node all-reduce (4 x 8 H100, IB) at 69% of single-node
    # [VOLTAGEPARK]
    assert 0.5 < bus_bandwidth(h, hc, 16, m) / bus_bandwidth(h, hc, 8, m) < 0.8
    g, gc = catalog.chip("gb200"), catalog.calibration("gb200")
    assert [t.name for t, _ in group_fanouts(g, 64)] == ["nvlink5-nvl72"]
    assert bus_bandwidth(g, gc, 64, m) == pytest.approx(
        bus_bandwidth(g, gc, 8, m), rel=0.05
    )  # NVL72 is one domain
    assert bus_bandwidth(g, gc, 128, m) < bus_bandwidth(g, gc, 64, m)


def test_collectives_grow_with_message_and_have_a_latency_floor():
    for chip_name in ("maia200", "h100", "mi300x", "tpu-v7"):
        chip, cal = catalog.chip(chip_name), catalog.calibration(chip_name)
        sizes = np.logspace(2, 9, 15)
        for p in (2, 4, 8):
            for f in (allreduce_time, allgather_time, alltoall_time):
                t = np.asarray(f(chip, cal, p, sizes))
                assert np.all(np.diff(t) > 0), (chip_name, p, f.__name__)
                assert t[0] >= cal.collective_overhead_s
            assert allreduce_time(chip, cal, 1, 1e6) == 0.0


# ---- element-wise kernels (LLMCompass GeLU / LayerNorm / Softmax) --------------------------------


def test_elementwise_kernels_keep_the_step_model_traffic():
    m = catalog.model("llama-3.1-70b")
    ks = elementwise_kernels(m, 4)
    assert [k for k, _, _ in ks] == ["norm", "norm", "residual_add", "residual_add", "activation"]
    # two norms (read + write), two residual adds (two reads, one write), SwiGLU (gate + up in,
    # one out)
    assert sum(e * p for _, e, p in ks) == 10 * m.hidden_size + 3 * m.ffn_size / 4
    base = Calibration(iteration_overhead_s=0.0)
    # unset: the weight-streaming fraction
    assert base.elementwise_hbm_fraction == base.hbm_fraction
    lat = base.model_copy(update={"elementwise_latency_s": 20e-6, "elementwise_fraction": 0.5})
    s0, s1 = _step(base), _step(lat)
    b0, b1 = s0.breakdown([], [1000] * 8), s1.breakdown([], [1000] * 8)
    assert b1.hbm_bytes == b0.hbm_bytes  # same traffic, slower and with five launches per layer
    ew = b0.ops["elementwise"]
    assert b1.ops["elementwise"] == pytest.approx(
        ew * base.hbm_fraction / 0.5 + 80 * 5 * 20e-6, rel=1e-9
    )
    assert s1.step_time(8, 8, 8, 8000) == pytest.approx(b1.total_s, rel=1e-12)


def test_fit_recovers_known_elementwise_factors(tmp_path):
    chip = catalog.chip("a100")
    truth = Calibration(elementwise_fraction=0.7, elementwise_latency_s=12e-6)
    n = np.round(np.geomspace(1e3, 5e8, 20))
    t = elementwise_time(chip.hbm_bandwidth_bytes_per_s, truth, n, 2, 2.0)
    csv = tmp_path / "gelu_A100.csv"  # LLMCompass format: elements, G elements/s
    csv.write_text("".join(f"{int(e)}, {e / s / 1e9}\n" for e, s in zip(n, t, strict=True)))
    cases = readers.read_llmcompass_elementwise(csv)
    assert set(cases.op) == {"gelu"} and cases.measured_s.to_numpy() == pytest.approx(t, rel=1e-6)
    cal, rep = fit.fit_calibration("a100", "elementwise", csv, fit_all=True)
    assert cal.elementwise_fraction == pytest.approx(0.7, rel=0.02)
    assert cal.elementwise_latency_s == pytest.approx(12e-6, rel=0.05)
    rows = tmp_path / "layernorm_A100.csv"  # M, N, G elements/s: M rows of N values each
    rows.write_text("4096, 32, 2.5\n32, 4096, 2.5\n")
    ln = readers.read_llmcompass_elementwise(rows, element_bytes=4.0)
    assert list(ln.elements) == [4096 * 32] * 2 and set(ln.element_bytes) == {4.0}
    assert ln.measured_s.iloc[0] == pytest.approx(4096 * 32 / 2.5e9)
