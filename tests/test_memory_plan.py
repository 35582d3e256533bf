"""Memory sized from device-reported bytes, and the ``memory_plan`` view (Python and CLI)."""

import copy

import pytest
from conftest import SMALL

import maiasim as ms
from maiasim import catalog, cli
from maiasim.physics import Parallelism, Precisions, plan_memory


def _h100(weights: str, tp: int) -> ms.Scenario:
    d = copy.deepcopy(SMALL)
    d["hardware"] = {"chip": "h100"}
    d["precision"] = {"weights": weights, "activations": weights, "kv_cache": weights}
    d["deployment"] = {"tensor_parallel": tp, "replicas": 1}
    return ms.from_dict(d)


def test_every_catalog_chip_has_a_sourced_device_reported_memory():
    for name, chip in catalog.chips().items():
        assert chip.memory_reported_bytes is not None, name
        assert chip.memory_reported_bytes >= chip.hbm_bytes * 0.99, name
        assert "memory_reported_bytes" in chip.sources, name


def test_h100_reports_more_than_its_marketed_80_gb():
    h100 = catalog.chip("h100")
    assert h100.hbm_bytes == 80e9 and h100.memory_bytes == pytest.approx(85.52e9)


@pytest.mark.parametrize("weights, tp", [("fp8", 1), ("bf16", 2)])
def test_llama70b_fits_h100_as_in_practice(weights, tp):
    """FP8 on one H100 and BF16 on two run in practice (vLLM, 0.9 of reported memory)."""
    df = ms.memory_plan(_h100(weights, tp))
    assert df.loc["kv_capacity_tokens", "per_replica"] > 10_000
    assert df.loc["kv_capacity_sequences", "per_replica"] >= 1


def test_marketed_memory_would_not_fit():
    chip = catalog.chip("h100").model_copy(update={"memory_reported_bytes": None})
    with pytest.raises(ms.DoesNotFit, match="reported"):
        plan_memory(chip, catalog.model("llama-3.1-70b"), Precisions("fp8", "fp8", "fp8"),
                    Parallelism(1), max_batch_tokens=8192, max_num_seqs=256)


def test_memory_plan_frame_per_chip_and_per_replica():
    df = ms.memory_plan(_h100("bf16", 2))
    for item in ("weights", "activations", "kv_cache", "device_memory"):
        assert df.loc[item, "per_replica"] == pytest.approx(2 * df.loc[item, "per_chip"])
    assert df.loc["kv_capacity_tokens", "per_chip"] == df.loc["kv_capacity_tokens", "per_replica"]
    assert df.loc["mean_sequence_tokens", "per_replica"] > 0
    assert (df.loc["engine_budget", "per_chip"]
            == pytest.approx(0.9 * df.loc["device_memory", "per_chip"]))
    budget = sum(df.loc[k, "per_chip"] for k in ("weights", "activations", "kv_cache"))
    assert budget == pytest.approx(df.loc["engine_budget", "per_chip"])


def test_what_if_capacity_scales_the_reported_figure():
    sc = _h100("fp8", 1).with_overrides({"hardware.chip_overrides": {"hbm_bytes": 160e9}})
    assert sc.chip_spec().memory_bytes == pytest.approx(85.52e9 * 2)


def test_memory_cli(capsys, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(_h100("fp8", 1).to_yaml())
    assert cli.main(["memory", str(path)]) == 0
    out = capsys.readouterr().out
    assert "kv_capacity_sequences" in out and "85.52 GB" in out
    assert cli.main(["memory", str(path), "--set", "precision.weights=bf16"]) == 2
    assert "does not fit" in capsys.readouterr().err
