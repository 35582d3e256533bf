"""Documentation stays true: the generated scenario reference, the import rule, links to code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

import maiasim as ms
from tools import schema_doc

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "maiasim"
DOCS = ROOT / "docs"
REFERENCE = DOCS / "scenario-reference.md"

#: keys the scenario reference must document (the issue's list), as dotted paths
REQUIRED_KEYS = [
    "name", "seed", "horizon_s", "hardware.chip", "hardware.chips", "model",
    "precision.weights", "precision.activations", "precision.kv_cache",
    "deployment.tensor_parallel", "deployment.pipeline_parallel", "deployment.replicas",
    "deployment.scheduler.max_batch_tokens", "deployment.scheduler.max_num_seqs",
    "deployment.scheduler.chunked_prefill", "router.policy",
    "workload[].name", "workload[].arrival", "workload[].prompt_tokens", "workload[].output_tokens",
    "workload[].slo.ttft_p99_s", "workload[].slo.tpot_p99_s",
    "cost.chip_hour_usd", "engine.fast_forward",
]

#: modules of the physics/specs/workload layers: pure, no simulation engine
PURE_MODULES = ["physics/step.py", "physics/network.py", "physics/memory.py", "physics/kernels.py",
                "physics/precision.py", "spec/model.py", "spec/hardware.py",
                "spec/calibration.py", "spec/cost.py", "results/economics.py",
                "workload/streams.py", "scenario/schema.py"]

#: modules that must never build a DataFrame (frames are built in result.py and front ends)
NO_FRAMES = [*PURE_MODULES, "engine/records.py", "catalog/__init__.py", "results/columns.py",
             "results/slo.py"]


# ---- scenario reference --------------------------------------------------------------------------


def test_committed_reference_is_up_to_date():
    """A schema change without `make docs-reference` fails here."""
    assert REFERENCE.is_file(), "docs/scenario-reference.md is missing: run make docs-reference"
    assert REFERENCE.read_text(encoding="utf-8") == schema_doc.generate(), (
        "docs/scenario-reference.md is out of date: run make docs-reference")


def test_check_flag_exit_codes(tmp_path, capsys):
    out = tmp_path / "ref.md"
    assert schema_doc.main(["--check", "-o", str(out)]) == 1  # missing
    assert schema_doc.main(["-o", str(out)]) == 0
    assert schema_doc.main(["--check", "-o", str(out)]) == 0
    out.write_text(out.read_text() + "stale\n")
    assert schema_doc.main(["--check", "-o", str(out)]) == 1
    assert "out of date" in capsys.readouterr().err


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in re.split(r"(?<!\\)\|", m.group(2))]
    return rows


def test_required_keys_are_documented_with_type_default_and_description():
    rows = _table_rows(REFERENCE.read_text(encoding="utf-8"))
    missing = [k for k in REQUIRED_KEYS if k not in rows]
    assert not missing, f"not in the reference: {missing}"
    for k in REQUIRED_KEYS:
        typ, default, _allowed, desc = rows[k]
        assert typ and default and desc, f"{k}: incomplete row {rows[k]}"


def test_allowed_values_are_listed():
    rows = _table_rows(REFERENCE.read_text(encoding="utf-8"))
    assert all(f"`{v}`" in rows["router.policy"][2]
               for v in ("round_robin", "least_outstanding", "random"))
    assert all(f"`{v}`" in rows["precision.weights"][2] for v in ("fp4", "fp8", "bf16"))
    for v in ("poisson", "gamma", "burst", "closed_loop", "trace"):
        assert f"`{v}`" in rows["workload[].arrival"][2]
    for v in ("fixed", "uniform", "lognormal", "trace"):
        assert f"`{v}`" in rows["workload[].prompt_tokens"][2]
    assert ">= 16" in rows["deployment.scheduler.max_batch_tokens"][2]
    # variant keys under their discriminated type
    for k in ("workload[].arrival.rate_per_s", "workload[].arrival.cv",
              "workload[].arrival.concurrency", "workload[].arrival.time_scale",
              "workload[].prompt_tokens.median", "workload[].prompt_tokens.low"):
        assert k in rows


def test_every_schema_key_has_a_description():
    ref = schema_doc.walk()
    undocumented = [path for path, _, desc in ref.rows if not desc]
    assert not undocumented, (f"add Field(description=...) or a `#:` comment in the schema for: "
                              f"{undocumented}")


def test_fallback_descriptions_name_real_fields():
    fields = {key for _, key, _ in schema_doc.walk().rows}
    stale = sorted(set(schema_doc.DESCRIPTIONS) - fields)
    assert not stale, (f"schema_doc.DESCRIPTIONS has entries for fields that no longer exist: "
                       f"{stale}")


def test_yaml_examples_in_the_reference_are_valid_scenarios():
    blocks = re.findall(r"```yaml\n(.*?)```", REFERENCE.read_text(encoding="utf-8"), re.S)
    assert blocks
    for text in blocks:
        sc = ms.from_dict(yaml.safe_load(text))
        assert sc.replicas >= 1


# ---- the import rule -----------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports (anywhere, including inside functions), as absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pkg = _module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _py_files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


def test_import_helper_resolves_relative_imports():
    imps = _imports(PKG / "engine" / "cluster.py")
    assert "simpy" in imps and "maiasim.build" in imps and "maiasim.engine.replica" in imps


@pytest.mark.parametrize("name", PURE_MODULES)
def test_physics_never_imports_simpy_or_the_engine(name):
    imps = _imports(PKG / name)
    bad = sorted(i for i in imps
                 if _top(i) == "simpy" or i == "maiasim.engine" or i.startswith("maiasim.engine."))
    assert not bad, (f"maiasim/{name} imports {bad}: "
                     f"physics and specs must not know the simulation engine")


def test_only_the_engine_imports_simpy():
    offenders = [str(p.relative_to(ROOT)) for p in _py_files()
                 if any(_top(i) == "simpy" for i in _imports(p))
                 and "engine" not in p.relative_to(PKG).parts[:-1]]
    assert not offenders, f"only maiasim/engine/* may import simpy: {offenders}"


def test_the_engine_never_reads_yaml():
    offenders = [str(p.relative_to(ROOT)) for p in (PKG / "engine").rglob("*.py")
                 if any(_top(i) == "yaml" for i in _imports(p))]
    assert not offenders, (f"the engine receives a validated Scenario, it never reads YAML: "
                           f"{offenders}")


def _builds_dataframe(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if ((isinstance(f, ast.Attribute) and f.attr == "DataFrame")
                    or (isinstance(f, ast.Name) and f.id == "DataFrame")):
                return True
    return False


def test_frames_are_built_only_in_result_and_front_ends():
    assert _builds_dataframe(PKG / "results" / "frames.py")
    no_frames = [PKG / n for n in NO_FRAMES] + sorted((PKG / "engine").rglob("*.py"))
    offenders = [str(p.relative_to(ROOT)) for p in no_frames
                 if p.is_file() and _builds_dataframe(p)]
    assert not offenders, f"pd.DataFrame( outside result.py and front ends: {offenders}"


# ---- the prose documents -------------------------------------------------------------------------


@pytest.mark.parametrize("doc", ["architecture.md", "physics.md", "engine.md",
                                 "scenario-reference.md"])
def test_docs_name_only_files_that_exist(doc):
    text = (DOCS / doc).read_text(encoding="utf-8")
    named = set(re.findall(r"\b(maiasim/[\w/.-]+\.(?:py|yaml))\b", text))
    missing = sorted(n for n in named if "<" not in n and not (ROOT / n).exists())
    assert not missing, f"docs/{doc} names files that do not exist: {missing}"
    for link in re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]+)?\)", text):
        assert (DOCS / link).is_file(), f"docs/{doc} links to missing docs/{link}"


def test_architecture_lists_every_request_state_and_reason():
    from maiasim.engine.records import REASONS, STATUS_NAMES

    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    for name in (*STATUS_NAMES, *(r for r in REASONS if r)):
        assert f"`{name}`" in text, f"docs/architecture.md does not mention {name!r}"
