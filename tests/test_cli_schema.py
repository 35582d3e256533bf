"""``maiasim schema``: the scenario's JSON Schema, on stdout or in a file, that real scenarios
satisfy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from maiasim import cli

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def _stdout_schema(capsys) -> dict:
    assert cli.main(["schema"]) == 0
    return json.loads(capsys.readouterr().out)


def test_stdout_is_the_scenario_json_schema(capsys):
    schema = _stdout_schema(capsys)
    assert schema["type"] == "object"
    assert {"workload", "hardware", "deployment"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False  # unknown keys are errors, as in the loader


def test_output_file_is_written(tmp_path, capsys):
    out = tmp_path / "scenario.schema.json"
    assert cli.main(["schema", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert json.loads(out.read_text(encoding="utf-8"))["title"] == "Scenario"


def test_a_directory_as_output_is_exit_2_with_one_line(tmp_path, capsys):
    assert cli.main(["schema", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maiasim: error: --output") and err.count("\n") == 1


def test_an_unwritable_output_is_exit_2(tmp_path, capsys):
    assert cli.main(["schema", "-o", str(tmp_path / "missing" / "s.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_validate_against_the_schema(path, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    schema = _stdout_schema(capsys)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
