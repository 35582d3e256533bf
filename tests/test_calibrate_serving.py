"""`maiasim calibrate CHIP serving FILE`: the benchmark readers (vLLM bench serve, trtllm-bench, a
CSV of runs), the replay of a run through the simulator, and a fit that recovers the factor that
generated a synthetic benchmark."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import maiasim as ms
from maiasim import catalog
from maiasim.calibrate.serving import (
    ServingFit,
    ServingSetup,
    catalog_model,
    fit_serving,
    predict_serving,
    scenario_for,
    serving_params,
    soft_l1,
)
from maiasim.calibrate.serving_io import read_serving
from maiasim.errors import ScenarioError
from tools.validation import common

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "data" / "serving"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maiasim", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


# ---- readers -----------------------------------------------------------------------------


def test_vllm_bench_serve_result_is_read():
    r = read_serving(FIX / "vllm_bench_serve.json").iloc[0]
    assert r.model == "meta-llama/Llama-3.1-8B-Instruct" and r.chip == "a100" and r.tp == 1
    assert (r.requests, r.concurrency, r.rate_per_s) == (4, 2, math.inf)
    assert (r.prompt_tokens, r.output_tokens) == (512, 64)
    assert r.throughput_tok_s == pytest.approx(102.4)
    assert (r.ttft_s, r.ttft_stat) == (pytest.approx(0.055), "mean")
    assert r.tpot_s == pytest.approx(0.0125) and r.lengths == ((512, 64),) * 4
    med = read_serving(FIX / "vllm_bench_serve.json", "median").iloc[0]
    assert (med.tpot_s, med.tpot_stat) == (pytest.approx(0.0124), "median")


def test_trtllm_bench_report_is_read():
    r = read_serving(FIX / "trtllm_bench_report.json").iloc[0]
    assert r.model == "meta-llama/Llama-3.1-8B" and r.version == "1.0.0" and r.tp == 1
    assert r.requests == 100 and math.isnan(r.concurrency) and math.isinf(r.rate_per_s)
    assert (r.prompt_tokens, r.output_tokens) == (128, 128)
    assert r.throughput_tok_s == 5120.0
    assert r.ttft_s == pytest.approx(0.210) and r.tpot_s == pytest.approx(0.011)
    assert read_serving(FIX / "trtllm_bench_report.json", "median").iloc[0].ttft_s == \
        pytest.approx(0.200)


def test_csv_of_runs_and_json_lines_are_read(tmp_path):
    d = read_serving(FIX / "runs.csv")
    assert d.concurrency.isna().tolist() == [False, False, True]
    assert d.rate_per_s.tolist() == [math.inf, math.inf, 4.0]
    assert d.prompt_tokens.tolist() == [256] * 3 and d.lengths.isna().all()
    rec = json.loads((FIX / "vllm_bench_serve.json").read_text())
    (tmp_path / "runs.jsonl").write_text(
        "\n".join(json.dumps(rec | {"max_concurrency": c}) for c in (1, 4)))
    assert read_serving(tmp_path / "runs.jsonl").concurrency.tolist() == [1, 4]


def test_the_vendored_runs_and_their_lengths_are_read():
    d = read_serving(ROOT / "data" / "calibration" / "serving" / "lambda_vllm_sharegpt.csv")
    assert len(d) == 32 and set(d.split) == {"fit", "held-out"}
    assert d.deployment.nunique() == 8
    for _, r in d.iterrows():  # each run sends the first N prompts of the lengths file
        assert len(r.lengths) == r.requests
        assert abs(sum(a for a, _ in r.lengths) / r.requests - r.prompt_tokens) < 1
    for dep, g in d.groupby("deployment"):  # three load levels to fit on, or none (transfer only)
        assert (g.split == "fit").sum() in (0, 3), dep


@pytest.mark.parametrize("text, field", [
    ('{"model_id": "x", "num_prompts": 4, "output_throughput": "fast", '
     '"total_input_tokens": 10, "total_output_tokens": 10}', "output_throughput"),
    ('{"model_id": "x", "output_throughput": 1.0, "total_input_tokens": 10, '
     '"total_output_tokens": 10}', "request count"),
    ('{"model_id": "x", "num_prompts": 4, "output_throughput": 1.0}', "prompt tokens"),
    ('{"model_id": "x", "num_prompts": -4, "output_throughput": 1.0, "input_len": 5, '
     '"output_len": 5}', "num_prompts"),
    ('{"model_id": "x", "num_prompts": 4, "input_len": 5, "output_len": 5}', "nothing measured"),
    ('[1, 2]', "expected a benchmark result"),
])
def test_bad_files_name_the_file_and_field(tmp_path, text, field):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(ScenarioError) as e:
        read_serving(p)
    assert str(p) in str(e.value) and field in str(e.value)


def test_bad_input_exits_2_without_traceback(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"model_id": "meta-llama/Llama-3.1-8B", "num_prompts": 4, '
                 '"output_throughput": "NaN", "input_len": 5, "output_len": 5}')
    r = _cli("calibrate", "a100", "serving", str(p))
    assert r.returncode == 2 and "output_throughput" in r.stderr and "Traceback" not in r.stderr
    p.write_text('{"model_id": "acme/unknown-13b", "num_prompts": 4, "output_throughput": 1, '
                 '"input_len": 5, "output_len": 5}')
    r = _cli("calibrate", "a100", "serving", str(p))
    assert r.returncode == 2 and "model_id" in r.stderr and "--model" in r.stderr
    r = _cli("calibrate", "a100", "serving", str(FIX / "runs.csv"), "--params", "nonsense_s")
    assert r.returncode == 2 and "cannot fit" in r.stderr
    r = _cli("calibrate", "a100", "serving", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "missing.json" in r.stderr


def test_hugging_face_ids_map_to_catalog_models():
    assert catalog_model("meta-llama/Meta-Llama-3-70B-Instruct") == "llama-3.1-70b"
    assert catalog_model("meta-llama/Llama-3.1-8B-Instruct") == "llama-3.1-8b"
    assert catalog_model("meta-llama/Llama-2-70b-hf") == "llama-2-70b"
    assert catalog_model("mistralai/Mixtral-8x7B-Instruct-v0.1") == "mixtral-8x7b"
    assert catalog_model("neuralmagic/Meta-Llama-3.1-70B-Instruct-FP8") == "llama-3.1-70b"
    with pytest.raises(ValueError, match="not a catalog model"):
        catalog_model("acme/unknown-13b")
    with pytest.raises(ValueError, match="cannot fit"):
        serving_params(["front_end_nonsense_s"])


# ---- replay and fit ----------------------------------------------------------------------------

SETUP = ServingSetup(chip="a100", model="llama-3.1-8b", stack="vllm")


def _runs(**over) -> pd.DataFrame:
    base = {"source": "synthetic", "requests": [8, 24, 24], "concurrency": [1.0, 8.0, np.nan],
            "rate_per_s": [math.inf, math.inf, 6.0], "prompt_tokens": [256] * 3,
            "output_tokens": [24] * 3, "ttft_stat": ["mean"] * 3, "tpot_stat": ["mean"] * 3}
    return pd.DataFrame(base | over)


def test_a_burst_replay_scores_ttft_from_the_send_and_empty_answers_as_zero():
    one = pd.DataFrame({"requests": [4], "concurrency": [np.nan], "rate_per_s": [math.inf],
                        "prompt_tokens": [64], "output_tokens": [8], "ttft_stat": ["mean"],
                        "tpot_stat": ["mean"], "lengths": [((64, 8),) * 4]})
    cal = catalog.calibration("a100")
    a = predict_serving(SETUP, cal, one).iloc[0]
    b = predict_serving(SETUP, cal, one, {"front_end_serial_s": 0.01}).iloc[0]
    assert b.ttft_s == pytest.approx(a.ttft_s + 0.04) and b.throughput_tok_s < a.throughput_tok_s
    assert b.tpot_s == pytest.approx(a.tpot_s)
    one.at[0, "lengths"] = ((64, 8), (64, 0), (64, 8), (64, 0))
    c = predict_serving(SETUP, cal, one).iloc[0]
    assert c.ttft_s == pytest.approx(a.ttft_s / 2, rel=0.05)


def test_a_burst_waits_for_the_cold_start_and_the_bent_hand_over():
    """A burst of N reaches the engine after cold_start_s + front_end_serial_s x N^exponent:
    every request's TTFT grows by exactly that, TPOT does not."""
    one = pd.DataFrame({"requests": [16], "concurrency": [np.nan], "rate_per_s": [math.inf],
                        "prompt_tokens": [64], "output_tokens": [8], "ttft_stat": ["median"],
                        "tpot_stat": ["median"], "lengths": [((64, 8),) * 16]})
    cal = catalog.calibration("a100")
    a = predict_serving(SETUP, cal, one).iloc[0]
    fe = {"front_end_serial_s": 0.01, "front_end_serial_exponent": 0.5, "cold_start_s": 1.5}
    b = predict_serving(SETUP, cal, one, fe).iloc[0]
    assert b.ttft_s == pytest.approx(a.ttft_s + 1.5 + 0.01 * 16 ** 0.5)
    assert b.tpot_s == pytest.approx(a.tpot_s) and b.throughput_tok_s < a.throughput_tok_s
    closed = _runs().iloc[[1]]  # not a burst: the hand-over and cold start change nothing
    assert predict_serving(SETUP, cal, closed, fe).equals(predict_serving(SETUP, cal, closed))


def test_a_run_states_its_own_weight_precision():
    run = pd.Series({"requests": 4, "concurrency": np.nan, "rate_per_s": math.inf,
                     "prompt_tokens": 64, "output_tokens": 8, "model": "", "tp": 2,
                     "precision": "fp8"})
    sc = scenario_for(replace(SETUP, stack="vllm-v0"), run, {})
    assert sc.precision.weights == "fp8" and sc.deployment.tensor_parallel == 2
    sc = scenario_for(SETUP, run.drop("precision"), {})
    assert sc.precision.weights == "bf16"


def test_soft_l1_is_quadratic_near_zero_and_linear_far_out():
    r = np.array([-1e-3, 1e-3, 0.5, -2.0, 4.0])
    out = soft_l1(r, 0.1)
    assert np.all(np.sign(out) == np.sign(r))
    assert out[:2] == pytest.approx(r[:2], rel=1e-4)  # small errors: least squares
    # far out the loss grows like 2 x scale x |r|, not r^2: an outlier run weighs ~|r|, not r^2
    assert out[4] ** 2 == pytest.approx(2 * 0.1 * 4.0, rel=0.03)
    assert out[4] ** 2 / out[3] ** 2 == pytest.approx(2.0, rel=0.06)


def test_replay_only_factors_stay_out_of_the_scenario_overlay():
    from maiasim.cli.calibrate_serving import overlay_yaml
    fit = ServingFit(catalog.calibration("a100"),
                     {"front_end_request_s": 0.004, "cold_start_s": 1.0,
                      "front_end_serial_exponent": 0.9},
                     {"iteration_overhead_s": 0.001, "front_end_request_s": 0.004,
                      "cold_start_s": 1.0, "front_end_serial_exponent": 0.9},
                     pd.DataFrame(), SETUP)
    data = yaml.safe_load(overlay_yaml(fit, "h"))
    assert data["hardware"]["calibration"] == {"iteration_overhead_s": 0.001}
    assert data["deployment"]["front_end"] == {"request_s": 0.004}
    assert set(fit.overrides()) == {"hardware.calibration.iteration_overhead_s",
                                    "deployment.front_end.request_s"}


def test_fit_recovers_the_overhead_that_generated_the_runs(tmp_path):
    """Runs made by the simulator itself with a 5 ms iteration overhead and a 20 ms front end,
    written as `vllm bench serve` JSON lines; the CLI's fit must find both again."""
    true = catalog.calibration("a100").model_copy(update={"iteration_overhead_s": 0.005})
    runs = _runs()
    pred = predict_serving(SETUP, true, runs, {"front_end_request_s": 0.02})
    lines = []
    for i, r in runs.iterrows():
        lines.append(json.dumps({
            "model_id": "meta-llama/Llama-3.1-8B-Instruct", "num_prompts": int(r.requests),
            "completed": int(r.requests),
            "max_concurrency": None if math.isnan(r.concurrency) else int(r.concurrency),
            "request_rate": "inf" if math.isinf(r.rate_per_s) else r.rate_per_s,
            "total_input_tokens": int(r.requests * 256),
            "total_output_tokens": int(r.requests * 24),
            "output_throughput": pred.throughput_tok_s[i],
            "mean_ttft_ms": pred.ttft_s[i] * 1e3, "mean_tpot_ms": pred.tpot_s[i] * 1e3}))
    f = tmp_path / "runs.jsonl"
    f.write_text("\n".join(lines))
    out = tmp_path / "fit.yaml"
    r = _cli("calibrate", "a100", "serving", str(f), "--stack", "vllm",
             "--params", "iteration_overhead_s,front_end_request_s", "-o", str(out))
    assert r.returncode == 0, r.stderr
    data = yaml.safe_load(out.read_text())
    assert data["hardware"]["calibration"]["iteration_overhead_s"] == pytest.approx(0.005, rel=0.03)
    assert data["deployment"]["front_end"]["request_s"] == pytest.approx(0.02, rel=0.05)
    assert data["deployment"]["stack"] == "vllm" and "median_abs_pct" in r.stdout


def test_one_deployment_of_a_file_is_fitted_alone(tmp_path):
    runs = str(ROOT / "data" / "calibration" / "serving" / "lambda_vllm_sharegpt.csv")
    r = _cli("calibrate", "h100", "serving", runs, "--deployment", "nonesuch")
    assert r.returncode == 2 and "llama3-8b-tp1" in r.stderr and "Traceback" not in r.stderr
    r = _cli("calibrate", "h100", "serving", runs, "--deployment", "llama3.1-70b-fp8-tp1",
             "--all", "--params", "iteration_overhead_s", "--statistic", "median")
    assert r.returncode == 0, r.stderr
    assert "fitted iteration_overhead_s to 1 of 1 runs" in r.stdout


def test_a_fit_is_usable_as_scenario_overrides():
    runs = _runs(requests=[4, 8, 8])
    fit = fit_serving(SETUP, runs.assign(throughput_tok_s=[40.0, 150.0, 100.0],
                                         ttft_s=[0.06, 0.1, 0.07], tpot_s=[0.016, 0.02, 0.017]),
                      params=["iteration_overhead_s"], iters=6)
    sc = ms.from_dict({"name": "x", "hardware": {"chip": "a100"}, "model": "llama-3.1-8b",
                       "deployment": {"replicas": 1}, "horizon_s": 5,
                       "workload": [{"name": "w", "arrival": {"type": "burst", "count": 2},
                                     "prompt_tokens": {"type": "fixed", "value": 8},
                                     "output_tokens": {"type": "fixed", "value": 4}}]})
    sc = sc.with_overrides(fit.overrides())
    assert sc.calibration().iteration_overhead_s == pytest.approx(
        fit.fitted["iteration_overhead_s"])


def test_vendored_serving_runs_cite_their_source():
    data = ROOT / "data" / "calibration"
    readme = (data / "serving" / "README.md").read_text(encoding="utf-8")
    assert "Licence" in readme and "Cite:" in readme and "`serving/`" in (
        data / "README.md").read_text(encoding="utf-8")
    for e in common.config("datasets")["serving"]["stacks"]:
        runs = pd.read_csv(data / e["file"], comment="#")
        assert runs.source_url.str.startswith("https://github.com/LambdaLabsML/").all()
        assert set(runs.split) == {"fit", "held-out"}
        for f in runs.lengths_file.unique():  # every lengths file names the run it comes from
            head = (data / "serving" / f).read_text(encoding="utf-8")[:400]
            assert "LambdaLabsML/vllm-benchmark" in head and "results/prompt_" in head
