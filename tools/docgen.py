"""The command line every generated document shares: write it, or check that it is current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def main(argv: list[str] | None, *, command: str, description: str, default_path: Path,
         generate: Callable[[], str]) -> int:
    """Write ``generate()`` to ``default_path`` (or ``-o``); with ``--check`` exit 1 when the
    file on disk differs, so CI and tests can tell a stale document from a current one."""
    ap = argparse.ArgumentParser(prog=command, description=description)
    ap.add_argument("-o", "--output", type=Path, default=None,
                    help=f"file to write (default: {default_path.name})")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the file differs from the generated text")
    args = ap.parse_args(argv)
    path = args.output or default_path
    text = generate()
    if args.check:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text:
            print(f"{path} is out of date; run: {command}", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0
