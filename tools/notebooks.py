"""Execute every notebook in notebooks/ headless into out/notebooks/ (``make notebooks``).

    python -m tools.notebooks [NOTEBOOK ...] [--out DIR]

Each notebook runs top to bottom with nbclient on a kernel that is this interpreter (registered in
a temporary kernelspec, as ``tests/test_notebooks.py`` does), so it sees the same venv whatever
other "python3" kernels are installed. The executed copies, outputs included, are written to
``out/notebooks/`` (ignored by git); the notebooks in ``notebooks/`` stay without outputs. Exits 1
if any notebook fails, after running the rest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "maiasim-notebooks-python"


def kernel_dir(tmp: Path) -> Path:
    """A kernelspec folder under ``tmp`` whose kernel is this interpreter (so a notebook sees this
    venv whatever other "python3" kernels are installed)."""
    spec = tmp / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "maiasim notebooks", "language": "python",
    }))
    return tmp


def execute(nb, folder: Path, kernel_dirs: list[str], timeout: int = 600) -> float:
    """Run notebook ``nb`` (read from ``folder``) top to bottom, in place, on
    :func:`kernel_dir`'s kernel; return its seconds. Raises nbclient's CellExecutionError on the
    first failing cell (``nb`` then holds the outputs so far)."""
    import nbclient  # optional: the dev extra installs them
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=KERNEL,
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs))
    client = nbclient.NotebookClient(nb, km=km, timeout=timeout, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(folder)}})
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def run(paths: list[Path], out: Path) -> int:
    """Execute ``paths`` into ``out``, reporting each; 1 if any failed (after running all)."""
    try:
        import nbformat
    except ImportError as e:
        print(f"make notebooks needs nbclient, nbformat and ipykernel ({e}); "
              'install them with pip install -e ".[dev]"', file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        kernels = [str(kernel_dir(Path(tmp)))]
        for path in paths:
            t0 = time.perf_counter()
            nb = nbformat.read(path, as_version=4)
            try:
                execute(nb, path.parent, kernels)
                status = "ok"
            except Exception as e:  # noqa: BLE001 - report every notebook, then fail
                status = f"FAILED: {type(e).__name__}"
                failed.append(path.name)
                print(str(e)[-2000:], file=sys.stderr)
            dest = out / path.name
            nbformat.write(nb, dest)
            print(f"{path.name:<32} {time.perf_counter() - t0:6.1f} s  {status}  -> "
                  f"{dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.notebooks",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path,
                    help="notebooks to run (default: every notebooks/*.ipynb)")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "notebooks",
                    help="where the executed copies go (default: out/notebooks/)")
    args = ap.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    return run(paths, args.out.resolve())


if __name__ == "__main__":
    sys.exit(main())
