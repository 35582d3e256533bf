"""Generators that write the project's documents from its code and data; not part of the runtime
package (``maiasim`` never imports them).

- ``python -m tools.validation`` (``make validate``): the accuracy report, docs/validation.md;
- ``python -m tools.schema_doc`` (``make docs-reference``): docs/scenario-reference.md.
"""
