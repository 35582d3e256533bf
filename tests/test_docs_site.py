"""The documentation site builds with warnings as errors, so CI catches a broken link, a missing
page or an API reference that no longer resolves; and the generated catalog page is current."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tools import catalog_doc

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings")


def test_mkdocs_build_strict(tmp_path):
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stdout + out.stderr
    for page in ("index.html", "concepts/index.html", "glossary/index.html",
                 "catalog/index.html", "scenario-reference/index.html", "api/plot/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "plot" / "index.html").read_text(encoding="utf-8")
    assert "pareto" in api and "load_latency" in api  # mkdocstrings rendered the docstrings
    assert ":func:<code>" not in api  # Sphinx roles are dropped, their code spans kept
    result = (site / "api" / "result" / "index.html").read_text(encoding="utf-8")
    assert 'href="../../glossary/"' in result  # a link between pages stays a link
    # the repository-file links of the GitHub pages are shown as paths, not broken links
    assert "data/calibration/README.md" in (site / "validation" / "index.html").read_text(
        encoding="utf-8")


def test_catalog_page_is_up_to_date():
    """A catalog change without `make docs-catalog` fails here."""
    page = ROOT / "docs" / "catalog.md"
    assert page.read_text(encoding="utf-8") == catalog_doc.generate(), (
        "docs/catalog.md is out of date: run make docs-catalog (python -m tools.catalog_doc)")


def test_catalog_page_lists_every_chip_and_model_with_price_basis_and_calibration():
    from maiasim import catalog

    text = catalog_doc.generate()
    for name in catalog.chips():
        assert f"| {name} |" in text and f"#### {name}" in text, name
    for name in catalog.models():
        assert f"| {name} |" in text, name
    assert "| Rental USD/chip-h |" in text and "| Ownership USD/chip-h |" in text
    assert "| Calibration |" in text
    assert "| maia200 | Microsoft | 216 | 7.00 | 10,145 | 5,072 | 1,268 | 750 |" in text


def test_nav_lists_every_page():
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    cfg = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)

    def pages(nav):
        for item in nav:
            for v in item.values():
                yield from (pages(v) if isinstance(v, list) else [v])

    listed = set(pages(cfg["nav"]))
    docs = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert docs == listed, (f"not in the nav: {sorted(docs - listed)}; "
                            f"missing: {sorted(listed - docs)}")


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The build above can fail: the same configuration on the same pages plus one link to a page
    that does not exist is an error, not a warning."""
    import shutil

    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "tools", tmp_path / "tools")  # the hooks
    index = tmp_path / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + "\n[gone](no-such-page.md)\n",
                     encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d",
                          str(tmp_path / "site")], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "NO_MKDOCS_2_WARNING": "1",
                                           "PYTHONPATH": str(ROOT)})
    assert out.returncode != 0
    assert "no-such-page.md" in out.stdout + out.stderr
