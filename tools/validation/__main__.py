"""``python -m tools.validation``: regenerate the accuracy report (docs/validation.md)."""

from .generate import main

raise SystemExit(main())
