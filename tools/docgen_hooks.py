"""MkDocs hooks for the docs site (``mkdocs.yml``: ``hooks: [tools/docgen_hooks.py]``).

The pages are also read on GitHub, where a link to a repository file outside ``docs/``
(``../data/calibration/README.md``, ``../maiasim/physics/network.py``) works; the site does not
host those files, so such a link is shown as the file's path in code, and every other link is
still checked (``--strict``)."""

from __future__ import annotations

import posixpath
import re

#: a relative Markdown link that climbs a folder: ``[text](../path)``
_CLIMBS = re.compile(r"\[([^\]]+)\]\(((?:\.\./)+[^)\s]+)\)")


def on_page_markdown(markdown: str, page, **kwargs) -> str:
    """Replace links to repository files outside docs/ by ``text (`path`)``; links between pages
    (``../glossary.md`` from ``api/``) stay links."""
    here = posixpath.dirname(page.file.src_uri)

    def repl(m: re.Match) -> str:
        text, target = m.group(1), m.group(2)
        inside = posixpath.normpath(posixpath.join(here, target.split("#")[0]))
        if not inside.startswith("../"):
            return m.group(0)
        path = inside.removeprefix("../")
        return text if text.strip("`") == path else f"{text} (`{path}`)"

    return _CLIMBS.sub(repl, markdown)


#: a Sphinx cross-reference role left in a rendered docstring: ``:func:`` before its code span
_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):(?=<code>)")


def on_page_content(html: str, **kwargs) -> str:
    """Drop the Sphinx roles (``:func:``, ``:class:``, ...) the docstrings use, keeping the code
    span they mark: the docstrings stay readable in ``help()`` and on the site."""
    return _ROLE.sub("", html)
