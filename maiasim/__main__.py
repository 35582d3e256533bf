"""``python -m maiasim``: the same command line as the ``maiasim`` script."""

from .cli import main

raise SystemExit(main())
