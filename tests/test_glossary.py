"""The results glossary stays true: docs/glossary.md is generated from the column registry."""

from __future__ import annotations

from pathlib import Path

from maiasim.results import columns
from tools import glossary

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"


def test_committed_glossary_is_up_to_date():
    """A change to maiasim/results/columns.py without `make docs-glossary` fails here."""
    assert GLOSSARY.is_file(), "docs/glossary.md is missing: run make docs-glossary"
    assert GLOSSARY.read_text(encoding="utf-8") == glossary.generate(), (
        "docs/glossary.md is out of date: run make docs-glossary")


def test_every_registry_column_has_a_row_with_unit_definition_and_direction():
    text = glossary.generate()
    for frame in ("summary", "requests", "replicas", "timeline"):
        assert f"## {frame}\n" in text
    for c in columns.COLUMNS:
        row = (f"| `{c.name}` | {c.unit or '—'} | {c.definition} | "
               f"{glossary.BETTER[c.better]} |")
        assert row in text, f"{c.frame}.{c.name} has no glossary row"


def test_check_flag_exit_codes(tmp_path, capsys):
    out = tmp_path / "glossary.md"
    assert glossary.main(["--check", "-o", str(out)]) == 1  # missing
    assert glossary.main(["-o", str(out)]) == 0
    assert glossary.main(["--check", "-o", str(out)]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "stale\n", encoding="utf-8")
    assert glossary.main(["--check", "-o", str(out)]) == 1
    assert "out of date" in capsys.readouterr().err
