"""Results: a run's records turned into pandas frames, and the definitions those frames rely on.

``frames`` holds :class:`~maiasim.results.frames.Result`; ``requests``, ``replicas``,
``timeline`` and ``summary`` build one frame each; ``slo`` is the one SLO test; ``economics``
prices chip-hours and joules; ``columns`` is the registry of every column's unit and definition.
"""
