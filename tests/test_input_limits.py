"""Bad input ends in one ScenarioError (CLI: exit 2, one message naming the field, the value and
what is allowed), never a traceback, a hang or unbounded memory; silent nonsense is refused
(issue 10).

One case per reported input. Limits are in the schema, so they fail before any memory is spent."""

from __future__ import annotations

import copy
import math
import os
import pickle
import tracemalloc
from pathlib import Path

import pytest
import yaml

import maiasim as ms
from maiasim import catalog
from maiasim.cli import main
from maiasim.scenario import apply_overrides

#: The smallest useful scenario: one Llama-3.1-8B replica on one Maia 200, 10 s of Poisson chat.
MINIMAL = {
    "name": "t",
    "horizon_s": 10,
    "hardware": {"chip": "maia200"},
    "model": "llama-3.1-8b",
    "deployment": {"replicas": 1},
    "workload": [
        {
            "name": "w",
            "arrival": {"type": "poisson", "rate_per_s": 1},
            "prompt_tokens": {"type": "fixed", "value": 100},
            "output_tokens": {"type": "fixed", "value": 10},
        }
    ],
}

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def scenario(**over) -> dict:
    """MINIMAL with dotted-path changes, as a plain dict."""
    d = copy.deepcopy(MINIMAL)
    apply_overrides(d, over)
    return d


def _chip(**changes) -> dict:
    c = catalog.chip("maia200").model_dump(mode="json")
    c.update(changes)
    return c


def _model(**changes) -> dict:
    m = catalog.model("llama-3.1-8b").model_dump(mode="json")
    m.update(changes)
    return m


INF, NAN = float("inf"), float("nan")
ONE_TRAY = [{"name": "tray", "chips": 4, "bandwidth_bytes_per_s": 1e11, "latency_s": 1e-6}]

#: (id, dotted overrides, fragments the message must contain)
BAD_DICTS = [
    # A: tracebacks, hangs or unbounded memory before
    (
        "tp-beyond-scale-up",
        {"hardware.chip_overrides": {"scale_up": ONE_TRAY}, "deployment.tensor_parallel": 8},
        ["deployment.tensor_parallel", "8", "4"],
    ),
    ("horizon-inf", {"horizon_s": INF}, ["horizon_s", "inf", "finite"]),
    ("horizon-too-long", {"horizon_s": 1e9}, ["horizon_s", "10000000"]),
    (
        "rate-inf",
        {"workload.0.arrival.rate_per_s": INF},
        ["workload[0].arrival.rate_per_s", "finite"],
    ),
    (
        "rate-too-high",
        {"workload.0.arrival.rate_per_s": 1e7},
        ["workload[0].arrival.rate_per_s", "1000000"],
    ),
    (
        "peak-flops-zero",
        {"hardware.chip_overrides": {"peak_tflops": {"fp8": 0}}},
        ["hardware.chip_overrides.peak_tflops.fp8", "0.001"],
    ),
    (
        "peak-flops-nan",
        {"hardware.chip_overrides": {"peak_tflops": {"fp8": NAN}}},
        ["hardware.chip_overrides.peak_tflops.fp8", "nan"],
    ),
    (
        "custom-chip-peak-zero",
        {"hardware.chip": _chip(peak_tflops={"fp8": 0.0})},
        ["hardware.chip.peak_tflops.fp8", "0.001"],
    ),
    (
        "hbm-inf",
        {"hardware.chip_overrides": {"hbm_bytes": INF}},
        ["hardware.chip_overrides.hbm_bytes", "finite"],
    ),
    (
        "tokens-2^63",
        {"workload.0.prompt_tokens.value": 2**63},
        ["workload[0].prompt_tokens.value", "9223372036854775808", "16777216"],
    ),
    ("replicas-1e9", {"deployment.replicas": 10**9}, ["deployment.replicas", "1000000"]),
    (
        "chips-1e9",
        {"hardware.chips": 10**9, "deployment.replicas": None},
        ["hardware.chips", "10000000"],
    ),
    (
        "tp-x-replicas-over-chip-limit",
        {"deployment.replicas": 1_000_000, "deployment.tensor_parallel": 16},
        ["16000000", "10000000"],
    ),
    (
        "burst-1e9",
        {"workload.0.arrival": {"type": "burst", "count": 10**9}},
        ["workload[0].arrival.count", "200000000"],
    ),
    (
        "closed-loop-1e9",
        {"workload.0.arrival": {"type": "closed_loop", "concurrency": 4, "count": 10**9}},
        ["workload[0].arrival.count", "200000000"],
    ),
    (
        "gamma-cv-huge",
        {"workload.0.arrival": {"type": "gamma", "rate_per_s": 1, "cv": 1e4}},
        ["workload[0].arrival.cv", "100"],
    ),
    (
        "timeline-bin-1e-9",
        {"engine.timeline_bin_s": 1e-9},
        ["engine.timeline_bin_s", "1000000 bins"],
    ),
    # C: silent nonsense before
    (
        "peak-flops-negative",
        {"hardware.chip_overrides": {"peak_tflops": {"fp8": -5}}},
        ["hardware.chip_overrides.peak_tflops.fp8", "-5"],
    ),
    (
        "iteration-overhead-inf",
        {"hardware.calibration": {"iteration_overhead_s": INF}},
        ["hardware.calibration.iteration_overhead_s", "finite"],
    ),
    (
        "lognormal-min-above-max",
        {
            "workload.0.prompt_tokens": {
                "type": "lognormal",
                "median": 100,
                "sigma": 1,
                "min": 500,
                "max": 10,
            }
        },
        ["workload[0].prompt_tokens", "min (500)", "max (10)"],
    ),
    (
        "tp-64-on-32-heads",
        {"deployment.tensor_parallel": 64},
        ["deployment.tensor_parallel", "64", "32"],
    ),
    (
        "tp-splits-kv-heads",
        {"model": _model(heads=48, kv_heads=16), "deployment.tensor_parallel": 12},
        ["deployment.tensor_parallel", "12", "16"],
    ),
    (
        "rate-true",
        {"workload.0.arrival.rate_per_s": True},
        ["workload[0].arrival.rate_per_s", "True"],
    ),
    (
        "rate-string",
        {"workload.0.arrival.rate_per_s": "5"},
        ["workload[0].arrival.rate_per_s", "'5'"],
    ),
    (
        "tokens-string",
        {"workload.0.output_tokens.value": "10"},
        ["workload[0].output_tokens.value", "'10'"],
    ),
    ("replicas-true", {"deployment.replicas": True}, ["deployment.replicas", "True"]),
    (
        "peak-flops-string",
        {"hardware.chip_overrides": {"peak_tflops": {"fp8": "5000"}}},
        ["hardware.chip_overrides.peak_tflops.fp8"],
    ),
    (
        "calibration-range-negative",
        {"hardware.calibration": {"ranges": {"iteration_overhead_s": [-1, 1e-3]}}},
        ["hardware.calibration", "ranges.iteration_overhead_s", "-1"],
    ),
]


@pytest.mark.parametrize(
    ("over", "fragments"), [c[1:] for c in BAD_DICTS], ids=[c[0] for c in BAD_DICTS]
)
def test_bad_dict_is_one_clear_scenario_error(over, fragments):
    with pytest.raises(ms.ScenarioError) as e:
        ms.from_dict(scenario(**over))
    msg = str(e.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    assert len(msg) < 2000


def test_limits_are_inclusive_and_valid_scenarios_still_load():
    ok = ms.from_dict(
        scenario(
            **{
                "workload.0.prompt_tokens.value": 1 << 24,
                "deployment.replicas": 1_000_000,
                "horizon_s": 1e7,
                "engine.timeline_bin_s": 10.0,
                "workload.0.arrival.rate_per_s": 1e6,
            }
        )
    )
    assert ok.replicas == 1_000_000
    assert (
        ms.from_dict(scenario(**{"deployment.tensor_parallel": 32})).chips == 32
    )  # TP 32 | 32 heads, 8 kv
    assert (
        ms.from_dict(scenario(**{"workload.0.arrival.rate_per_s": 3}))
        .workload[0]
        .arrival.rate_per_s
        == 3
    )
    assert ms.from_dict(scenario(**{"horizon_s": 5})).horizon_s == 5.0  # an int where a float goes


def test_tp_error_lists_the_allowed_degrees():
    with pytest.raises(ms.ScenarioError) as e:
        ms.from_dict(scenario(**{"deployment.tensor_parallel": 64}))
    assert "1, 2, 4, 8, 16, 32" in str(e.value)


def test_custom_chip_with_bad_figures():
    for changes, where in (
        ({"hbm_bytes": INF}, "hardware.chip.hbm_bytes"),
        ({"hbm_bandwidth_bytes_per_s": 0}, "hardware.chip.hbm_bandwidth_bytes_per_s"),
        ({"peak_tflops": {"fp8": -1.0}}, "hardware.chip.peak_tflops.fp8"),
    ):
        with pytest.raises(ms.ScenarioError, match=where.replace(".", r"\.")):
            ms.from_dict(scenario(**{"hardware.chip": _chip(**changes)}))


# ---- B: error messages are bounded ---------------------------------------------------------------


def test_error_message_is_bounded_for_huge_and_deep_values():
    shared: list = ["x" * 1000] * 50
    for _ in range(30):  # 50**30 elements when expanded: repr of it never returns
        shared = [shared] * 50
    d = scenario(**{"workload.0.arrival.rate_per_s": shared})
    with pytest.raises(ms.ScenarioError) as e:
        ms.from_dict(d)
    assert "workload[0].arrival.rate_per_s" in str(e.value) and len(str(e.value)) < 1000


def test_error_message_survives_huge_ints_and_broken_reprs():
    class Broken:
        def __repr__(self):
            raise RuntimeError("no repr")

    for bad in (10**5000, Broken()):
        with pytest.raises(ms.ScenarioError, match=r"workload\[0\]\.arrival\.rate_per_s"):
            ms.from_dict(scenario(**{"workload.0.arrival.rate_per_s": bad}))


def test_many_problems_are_capped():
    d = scenario()
    d["workload"] = [
        dict(d["workload"][0], name=f"w{i}", arrival={"type": "poisson", "rate_per_s": -1})
        for i in range(500)
    ]
    with pytest.raises(ms.ScenarioError) as e:
        ms.from_dict(d)
    assert "500 problems" in str(e.value) and "more" in str(e.value) and len(str(e.value)) < 5000


# ---- files ---------------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str | bytes, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


BAD_FILES = [
    ("not-utf8", b"name: caf\xe9\nhorizon_s: 10\n", ["UTF-8", "byte 0xe9", "offset 9"]),
    ("nested-100000-flow", "[" * 100_000 + "]" * 100_000, ["nested", "100"]),
    ("nested-20000-block", "- " * 20_000 + "1\n", ["nested", "100"]),
    ("billion-laughs", BILLION_LAUGHS, ["alias", "10000"]),
    ("recursive-alias", "a: &a [1, *a]\n", ["alias"]),
    ("huge-int-literal", "horizon_s: " + "9" * 10_000 + "\n", ["10000 digits", "line 1"]),
    ("binary-nul", b"name: \x00\x01\x02\n", ["not valid YAML"]),
    ("top-level-list", "- 1\n- 2\n", ["mapping", "list"]),
    ("empty", "", ["mapping", "NoneType"]),
]


@pytest.mark.parametrize(
    ("text", "fragments"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_file_is_one_clear_scenario_error(tmp_path, text, fragments):
    p = _write(tmp_path, text)
    tracemalloc.start()
    try:
        with pytest.raises(ms.ScenarioError) as e:
            ms.load_scenario(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    for f in fragments:
        assert f in str(e.value), f"{f!r} not in {str(e.value)!r}"
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB"
    assert len(str(e.value)) < 2000


def test_file_too_large(tmp_path):
    p = _write(tmp_path, "name: x\n" + "#" * (2 << 20) + "\n")
    with pytest.raises(ms.ScenarioError, match=r"larger than .*MiB"):
        ms.load_scenario(p)


def test_only_regular_files_are_read(tmp_path):
    with pytest.raises(ms.ScenarioError, match="not a regular file"):
        ms.load_scenario(tmp_path)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it to read would block forever
    with pytest.raises(ms.ScenarioError, match="not a regular file"):
        ms.load_scenario(fifo)
    with pytest.raises(ms.ScenarioError, match="not found"):
        ms.load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ms.ScenarioError, match="cannot read"):
        ms.load_scenario("bad\x00name.yaml")


def test_a_bom_and_a_valid_file_still_load(tmp_path):
    p = _write(tmp_path, "\ufeff" + yaml.safe_dump(MINIMAL))
    assert ms.load_scenario(p).name == "t"


# ---- the command line ----------------------------------------------------------------------------


CLI_CASES = [
    (
        "tp-beyond-scale-up",
        yaml.safe_dump(
            scenario(
                **{
                    "hardware.chip_overrides": {"scale_up": ONE_TRAY},
                    "deployment.tensor_parallel": 8,
                }
            )
        ),
        "deployment.tensor_parallel",
    ),
    (
        "tokens-2^63",
        yaml.safe_dump(scenario(**{"workload.0.prompt_tokens.value": 2**63})),
        "workload[0].prompt_tokens.value",
    ),
    (
        "iteration-overhead-inf",
        yaml.safe_dump(scenario(**{"hardware.calibration": {"iteration_overhead_s": INF}})),
        "hardware.calibration.iteration_overhead_s",
    ),
    ("not-utf8", b"\xff\xfe\x00n", "UTF-8"),
    ("nested", "a: " + "[" * 100_000, "nested"),
    ("billion-laughs", BILLION_LAUGHS, "alias"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_cli_run_exits_2_with_one_message(tmp_path, capsys, text, fragment):
    p = _write(tmp_path, text)
    assert main(["run", str(p), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maiasim: error:") and fragment in err and "Traceback" not in err


def test_cli_output_must_be_a_writable_directory(tmp_path, capsys):
    p = _write(tmp_path, yaml.safe_dump(MINIMAL))
    afile = _write(tmp_path, "x", "afile")
    for out in (afile, afile / "sub"):
        assert main(["run", str(p), "-q", "--no-plots", "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert "--output" in err and str(out) in err and "Traceback" not in err
    assert main(["run", str(p), "-q", "--no-plots", "-o", str(tmp_path / "new" / "dir")]) == 0
    assert (tmp_path / "new" / "dir" / "summary.csv").is_file()


def test_cli_set_values_use_the_bounded_loader(tmp_path, capsys):
    p = _write(tmp_path, yaml.safe_dump(MINIMAL))
    levels = ["&l0 [" + ",".join(["1"] * 10) + "]"]
    levels += [f"&l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    assert (
        main(["validate", str(p), "--set", f"name=[{','.join(levels)}]"]) == 2
    )  # 10**6 when expanded
    err = capsys.readouterr().err
    assert "--set name" in err and "alias" in err and "Traceback" not in err


# ---- D: immutability and the Python API ----------------------------------------------------------


def test_dict_fields_are_immutable_but_overrides_work():
    sc = ms.from_dict(
        scenario(
            **{
                "hardware.chip_overrides": {"peak_tflops": {"fp8": 4000}},
                "hardware.calibration": {
                    "hbm_fraction": 0.7,
                    "ranges": {"hbm_fraction": [0.6, 0.8]},
                },
            }
        )
    )
    with pytest.raises(TypeError):
        sc.hardware.chip_overrides["x"] = 1
    with pytest.raises(TypeError):
        sc.hardware.chip_overrides["peak_tflops"]["fp8"] = 1
    with pytest.raises(TypeError):
        sc.hardware.calibration.update({"hbm_fraction": 0.1})
    with pytest.raises((TypeError, AttributeError)):
        sc.hardware.calibration["ranges"]["hbm_fraction"].append(1)
    assert sc.chip_spec().peak_tflops["fp8"] == 4000 and sc.calibration().hbm_fraction == 0.7
    b = sc.with_overrides(
        {"hardware.chip_overrides.hbm_bytes": 2e11, "hardware.calibration.hbm_fraction": 0.6}
    )
    assert b.chip_spec().hbm_bytes == 2e11 and b.chip_spec().peak_tflops["fp8"] == 4000
    assert b.calibration().hbm_fraction == 0.6 and sc.calibration().hbm_fraction == 0.7
    dumped = sc.model_dump()
    assert type(dumped["hardware"]["chip_overrides"]) is dict
    dumped["hardware"]["chip_overrides"]["peak_tflops"]["fp8"] = (
        1  # a dump is the caller's to change
    )
    assert sc.hardware.chip_overrides["peak_tflops"]["fp8"] == 4000
    again = ms.from_dict(yaml.safe_load(sc.to_yaml()))
    assert again.hardware.chip_overrides == sc.hardware.chip_overrides
    assert again.calibration().ranges["hbm_fraction"] == (0.6, 0.8)
    assert pickle.loads(pickle.dumps(sc)) == sc
    assert copy.deepcopy(sc) == sc
    plain = ms.from_dict(scenario())  # the defaults are frozen too
    with pytest.raises(TypeError):
        plain.hardware.chip_overrides["hbm_bytes"] = 1
    with pytest.raises(TypeError):
        plain.hardware.calibration["hbm_fraction"] = 1


def test_self_containing_or_very_deep_dicts_from_python():
    d = scenario()
    d["hardware"]["chip_overrides"] = {"sources": {}}
    d["hardware"]["chip_overrides"]["sources"]["loop"] = d["hardware"]["chip_overrides"]
    with pytest.raises(ms.ScenarioError, match="nested too deeply or contains itself"):
        ms.from_dict(d)
    deep: dict = {}
    for _ in range(100_000):
        deep = {"x": deep}
    with pytest.raises(ms.ScenarioError):
        ms.from_dict(scenario(**{"hardware.calibration": deep}))


def test_simulate_accepts_a_dict():
    res = ms.simulate(scenario())
    assert res.summary.iloc[-1].requests > 0
    with pytest.raises(ms.ScenarioError, match="horizon_s"):
        ms.simulate(scenario(horizon_s=-1))


def test_simulate_rejects_other_types_clearly():
    with pytest.raises(TypeError, match="from_dict"):
        ms.simulate(42)


def test_shipped_catalog_still_validates():
    assert catalog.chips() and catalog.models()
    for name in catalog.chips():
        cal = catalog.calibration(name)
        assert all(math.isfinite(v) for v in (cal.iteration_overhead_s, cal.hbm_fraction))


def test_a_key_given_twice_is_refused(tmp_path, capsys):
    """Plain YAML keeps the last of two equal keys silently (issue 10: no silent change)."""
    import maiasim.cli

    p = tmp_path / "dup.yaml"
    p.write_text("name: t\nhorizon_s: 10\nhorizon_s: 20\nworkload: []\n", encoding="utf-8")
    assert maiasim.cli.main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "'horizon_s' is given twice" in err and "Traceback" not in err
    merged = tmp_path / "merge.yaml"  # a merge key that overrides is not a duplicate
    merged.write_text("base: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n", encoding="utf-8")
    from maiasim.scenario import load_yaml

    assert load_yaml(merged.read_text())["other"] == {"x": 2}
