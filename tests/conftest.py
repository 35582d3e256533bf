import copy

import pytest

import maiasim as ms

#: A quick scenario: 2 TP4 Maia 200 replicas of Llama-3.1-70B, Poisson chat traffic.
SMALL = {
    "name": "small",
    "seed": 42,
    "horizon_s": 60,
    "hardware": {"chip": "maia200"},
    "model": "llama-3.1-70b",
    "deployment": {"tensor_parallel": 4, "replicas": 2},
    "workload": [{
        "name": "chat",
        "arrival": {"type": "poisson", "rate_per_s": 4},
        "prompt_tokens": {"type": "lognormal", "median": 800, "sigma": 0.8, "max": 8000},
        "output_tokens": {"type": "lognormal", "median": 150, "sigma": 0.6, "max": 1000},
        "slo": {"ttft_p99_s": 2.0, "tpot_p99_s": 0.1},
    }],
    "cost": {"chip_hour_usd": 4.25},
}


def small_scenario(**over) -> ms.Scenario:
    sc = ms.from_dict(copy.deepcopy(SMALL))
    return sc.with_overrides(over) if over else sc


@pytest.fixture
def small():
    return small_scenario()
