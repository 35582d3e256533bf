"""help(ms.Result) explains every column, from the registry: a user at a Python prompt needs no
other page to read summary.csv."""

from __future__ import annotations

import pydoc

import maiasim as ms
from maiasim.results import columns


def test_help_of_result_lists_every_column_with_unit_and_definition():
    text = pydoc.render_doc(ms.Result, renderer=pydoc.plaintext)
    flat = " ".join(text.replace("|", " ").split())
    for c in columns.COLUMNS:
        head = c.name + (f" [{c.unit}]" if c.unit else "")
        assert head in flat, c.name
        assert " ".join(c.definition.split()[:6]) in flat, c.name
    assert "output_tok_s [tokens/s], better higher" in flat
    assert "stepping_frac [fraction]: share of the run's time" in flat
