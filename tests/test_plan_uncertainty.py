"""Planning under uncertainty (issue 13): the fleet that meets the SLO at the p95 of the
calibration, price and failure draws."""

import numpy as np

import maiasim as ms
from maiasim.studies.plan import at_p95, plan

BASE = {
    "name": "robust", "seed": 3, "horizon_s": 120,
    "hardware": {"chip": "maia200"}, "model": "llama-3.1-8b",
    "deployment": {"tensor_parallel": 1, "replicas": 1},
    "workload": [{"name": "w", "arrival": {"type": "poisson", "rate_per_s": 30},
                  "prompt_tokens": {"type": "fixed", "value": 2000},
                  "output_tokens": {"type": "fixed", "value": 200},
                  "slo": {"ttft_p99_s": 0.3, "tpot_p99_s": 0.05}}],
}


def test_latencies_are_judged_at_their_p95_band():
    res = ms.simulate(ms.from_dict(BASE), uncertainty=6)
    nominal = res.summary.set_index("workload")
    robust = at_p95(res).summary.set_index("workload")
    for c in ("ttft_p99_s", "tpot_p99_s", "e2e_p99_s"):
        want = np.fmax(nominal[c], nominal[f"{c}_p95"])
        np.testing.assert_allclose(robust[c], want)
    no_draws = ms.simulate(ms.from_dict(BASE))
    assert at_p95(no_draws) is no_draws


def test_a_plan_for_the_p95_never_buys_fewer_replicas():
    sc = ms.from_dict(BASE)
    nominal = plan(sc, max_replicas=16).iloc[0]
    robust = plan(sc.with_overrides({"uncertainty.samples": 6}), max_replicas=16).iloc[0]
    assert bool(nominal.feasible) and bool(robust.feasible)
    assert robust.replicas >= nominal.replicas


def test_with_failures_on_each_draw_redraws_the_failures():
    d = {**BASE, "failures": {"chip": {"rate_per_hour": 20.0, "repair_s": 30, "reload_s": 10}},
         "deployment": {"tensor_parallel": 1, "replicas": 4}}
    res = ms.simulate(ms.from_dict(d), uncertainty=4)
    per_draw = res.uncertainty[res.uncertainty.workload == "all"]
    assert per_draw.availability.nunique() > 1
