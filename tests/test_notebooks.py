"""The notebooks in notebooks/ run top to bottom, quickly, and are stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from tools import notebooks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIME_LIMIT_S = 60.0


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A kernelspec that runs this interpreter (the one `make notebooks` uses)."""
    return [str(notebooks.kernel_dir(tmp_path_factory.mktemp("kernels")))]


def test_the_walkthroughs_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"01-quickstart.ipynb", "02-compare-chips.ipynb", "03-capacity-plan.ipynb",
            "04-hardware-what-if.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, kernel_dirs):
    nb = nbformat.read(path, as_version=4)
    # raises CellExecutionError, with the cell and traceback, on the first failure
    elapsed = notebooks.execute(nb, path.parent, kernel_dirs, timeout=300)
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert elapsed < TIME_LIMIT_S, (f"{path.name} took {elapsed:.0f} s; "
                                    f"keep each notebook under {TIME_LIMIT_S:.0f} s")
