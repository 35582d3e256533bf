"""``maiasim schema``: write the JSON Schema of a scenario file (from the pydantic model).

An editor with the YAML language server gives completion and validation for a scenario whose
first line is ``# yaml-language-server: $schema=scenario.schema.json`` after
``maiasim schema -o scenario.schema.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from pydantic.json_schema import PydanticJsonSchemaWarning

from ..errors import UsageError
from ..scenario import Scenario

HELP = "write the JSON Schema of a scenario file (for editor completion and validation)"

#: the JSON Schema dialect pydantic generates
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim schema`` arguments."""
    p.add_argument("-o", "--output", metavar="FILE",
                   help="file to write (default: standard output)")


def scenario_schema() -> dict[str, Any]:
    """The scenario's JSON Schema, with its dialect named. A default that is not JSON (a frozen
    mapping) is left out of the schema, as pydantic does; its warning says nothing to a user."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        schema = Scenario.model_json_schema()
    return {"$schema": DIALECT, **schema}


def command(args: argparse.Namespace) -> int:
    """Print the schema, or write it to ``-o`` (a directory or an unwritable path is exit 2)."""
    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if out.is_dir():
        raise UsageError(f"--output {out}: is a directory; give a file name")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--output {out}: cannot write there ({e.strerror or e})") from None
    print(f"wrote {out}")
    return 0
