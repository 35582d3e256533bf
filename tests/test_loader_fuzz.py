"""Fuzzing the scenario loader: whatever the file holds, ``maiasim validate`` either accepts it or
exits 2 with one message; it never raises, never hangs and never spends unbounded memory.

Work per example is bounded structurally (file size, YAML depth and node limits); hypothesis's own
``deadline`` catches an example that is slow anyway, and tracemalloc bounds memory where inputs
could explode (alias bombs, deep nesting)."""

from __future__ import annotations

import contextlib
import copy
import io
import math
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import maiasim as ms
from maiasim.cli import main

#: A valid scenario to mutate: every section present, small enough to validate in milliseconds.
VALID = {
    "name": "t",
    "seed": 1,
    "horizon_s": 10,
    "hardware": {"chip": "maia200", "chip_overrides": {"hbm_bytes": 2.0e11},
                 "calibration": {"hbm_fraction": 0.7}},
    "model": "llama-3.1-8b",
    "precision": {"weights": "fp8", "activations": "fp8", "kv_cache": "fp8"},
    "deployment": {"tensor_parallel": 2, "replicas": 1, "scheduler": {"max_num_seqs": 64}},
    "workload": [
        {"name": "w", "arrival": {"type": "poisson", "rate_per_s": 1},
         "prompt_tokens": {"type": "lognormal", "median": 100, "sigma": 0.5, "max": 1000},
         "output_tokens": {"type": "fixed", "value": 10}, "slo": {"ttft_p99_s": 1.0}},
        {"name": "c", "arrival": {"type": "closed_loop", "concurrency": 2, "count": 5},
         "prompt_tokens": {"type": "uniform", "low": 10, "high": 20},
         "output_tokens": {"type": "fixed", "value": 5}},
    ],
    "cost": {"chip_hour_usd": 4.0},
    "engine": {"timeline_bin_s": 1.0},
}

FUZZ = settings(max_examples=60, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: Values that have broken loaders: wrong types, extremes, non-finite numbers, huge containers.
EXTREMES = [
    None, True, False, 0, -1, 1, 2**63, -(2**63), 10**30, 10**400, 0.0, -0.0, 1e-300, 1e300,
    math.inf, -math.inf, math.nan, "", "5", "1e3", ".inf", "x" * 10_000, [], {}, [1, 2],
    {"type": "poisson"}, {"a": {"b": {"c": None}}}, list(range(2000)),
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["poisson", "fixed", "maia200", "llama-3.1-8b", "trace", "azure:conv"]),
)
keys = st.one_of(st.text(max_size=12), st.sampled_from(sorted(VALID) + ["type", "value", "count"]))
documents = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(keys, kids, max_size=5),
    max_leaves=40,
)


def _paths(d, prefix=()):
    """Every (path, value) inside a nested dict/list."""
    items = d.items() if isinstance(d, dict) else enumerate(d)
    for k, v in items:
        yield prefix + (k,), v
        if isinstance(v, (dict, list)):
            yield from _paths(v, prefix + (k,))


PATHS = [p for p, _ in _paths(VALID)]


@st.composite
def mutated(draw) -> dict:
    """VALID with a few of its values replaced (extremes or random documents), removed, or with an
    unknown key added."""
    d = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node = d
        try:
            for k in path[:-1]:
                node = node[k]
            how = draw(st.sampled_from(["extreme", "document", "delete", "extra"]))
            if how == "extreme":
                node[path[-1]] = copy.deepcopy(draw(st.sampled_from(EXTREMES)))
            elif how == "document":
                node[path[-1]] = draw(documents)
            elif how == "delete" and isinstance(node, dict):
                del node[path[-1]]
            elif isinstance(node, dict):
                node[draw(st.text(min_size=1, max_size=8))] = draw(scalars)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation changed the structure under this path
    return d


def alias_bomb(width: int, levels: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nworkload: *l{levels - 1}\n"


def nested(kind: str, depth: int) -> str:
    return {"flow": "[" * depth + "]" * depth, "map": "{a: " * depth + "1" + "}" * depth,
            "block": "- " * depth + "1", "open": "a: " + "[" * depth}[kind]


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "s.yaml"


def validate(path: Path, data: bytes) -> tuple[int, str]:
    """``maiasim validate`` on a file holding ``data``: (exit status, stderr)."""
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", str(path)])
    return rc, err.getvalue()


def check(rc: int, err: str) -> None:
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        assert err.startswith("maiasim: error: ") and "Traceback" not in err, err
        assert len(err) < 5000, f"message of {len(err)} characters"


def bounded_memory(path: Path, data: bytes, limit: float = 200e6) -> None:
    tracemalloc.start()
    try:
        check(*validate(path, data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak {peak / 1e6:.0f} MB"


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(scenario_file, data):
    check(*validate(scenario_file, data))


@FUZZ
@given(st.text(max_size=300))
def test_random_text(scenario_file, text):
    check(*validate(scenario_file, text.encode("utf-8", "surrogatepass")))


@FUZZ
@given(documents)
def test_random_yaml_documents(scenario_file, doc):
    check(*validate(scenario_file, yaml.safe_dump(doc).encode()))


@settings(FUZZ, max_examples=100)
@given(mutated())
def test_mutations_of_a_valid_scenario(scenario_file, d):
    check(*validate(scenario_file, yaml.safe_dump(d, allow_unicode=True).encode()))
    try:  # the same dict from Python, where any object may appear
        ms.from_dict(d)
    except ms.ScenarioError as e:
        assert len(str(e)) < 5000


@settings(FUZZ, max_examples=20)
@given(st.integers(2, 30), st.integers(1, 12))
def test_alias_bombs(scenario_file, width, levels):
    bounded_memory(scenario_file, alias_bomb(width, levels).encode())


@settings(FUZZ, max_examples=20)
@given(st.sampled_from(["flow", "map", "block", "open"]), st.integers(1, 100_000))
def test_deep_nesting(scenario_file, kind, depth):
    bounded_memory(scenario_file, nested(kind, depth).encode())


def test_the_valid_base_is_valid(scenario_file):
    assert validate(scenario_file, yaml.safe_dump(VALID).encode())[0] == 0
    assert ms.from_dict(copy.deepcopy(VALID)).replicas == 1


@pytest.mark.parametrize(("width", "levels"), [(9, 9), (50, 6), (1000, 2)])
def test_known_bombs_are_refused_by_the_node_limit(scenario_file, width, levels):
    rc, err = validate(scenario_file, alias_bomb(width, levels).encode())
    assert rc == 2 and "more than 10000 nodes" in err
