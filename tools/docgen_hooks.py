"""MkDocs hooks for the docs site (``mkdocs.yml``: ``hooks: [tools/docgen_hooks.py]``).

The pages are also read on GitHub, where a link to a repository file outside ``docs/``
(``../data/calibration/README.md``, ``../maiasim/physics/network.py``) works; the site does not
host those files, so such a link is shown as the file's path in code, and every other link is
still checked (``--strict``)."""

from __future__ import annotations

import re

#: a Markdown link whose target leaves docs/: ``[text](../path)``
_OUTSIDE = re.compile(r"\[([^\]]+)\]\((\.\./[^)\s]+)\)")


def on_page_markdown(markdown: str, **kwargs) -> str:
    """Replace links to repository files outside docs/ by ``text (`path`)``."""

    def repl(m: re.Match) -> str:
        text, target = m.group(1), m.group(2)
        path = target.removeprefix("../")
        return text if text.strip("`") == path else f"{text} (`{path}`)"

    return _OUTSIDE.sub(repl, markdown)
