"""Saturation is visible: a replica whose queue grows without bound is flagged (issue 14)."""

import numpy as np
from conftest import small_scenario

import maiasim as ms


def _run(**over):
    return ms.simulate(small_scenario(**{"deployment.replicas": 1, "horizon_s": 120, **over}))


def test_an_overloaded_replica_is_saturated_from_early_on():
    res = _run(**{"workload.0.arrival.rate_per_s": 150, "horizon_s": 30})
    r = res.replicas.iloc[0]
    assert r.saturated
    assert 0 <= r.saturated_since_s < 0.5 * 30


def test_a_busy_but_stable_replica_is_not():
    res = _run(**{"workload.0.arrival.rate_per_s": 40})
    assert res.replicas.stepping_frac.iloc[0] > 0.9  # busy all the time, yet its queue empties
    assert not res.replicas.saturated.any()
    assert np.isnan(res.replicas.saturated_since_s).all()


def test_a_burst_and_a_closed_loop_drain_and_are_not():
    burst = _run(**{"workload.0.arrival": {"type": "burst", "count": 400}})
    loop = _run(**{"workload.0.arrival": {"type": "closed_loop", "concurrency": 300,
                                          "count": 3000}})
    assert not burst.replicas.saturated.any()
    assert not loop.replicas.saturated.any()


def test_a_saturated_run_warns():
    res = _run(**{"workload.0.arrival.rate_per_s": 150, "horizon_s": 30})
    assert any("1 of 1 replicas saturated" in w for w in res.warnings)
    assert not any("saturated" in w for w in _run(**{"horizon_s": 30}).warnings)
