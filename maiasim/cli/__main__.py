"""``python -m maiasim.cli``: the ``maiasim`` command."""

from . import main

raise SystemExit(main())
