"""Matplotlib figures a capacity planner puts in a deck, one function each.

Of one run (a :class:`~maiasim.Result`): :func:`latency_cdf`, :func:`timeline`,
:func:`utilisation`, :func:`breakdown` (:func:`save_all` writes them all, as ``maiasim run -o``
does). Of a study: :func:`pareto` (cost per million output tokens against p99 latency across chips,
from :func:`maiasim.studies.plan.plan`) and :func:`load_latency` (the knee of latency against
offered load, from :func:`maiasim.sweep` over an arrival rate).

Each function returns the Figure (and saves it when given ``path``); nothing is shown, so the same
calls serve notebooks, scripts and the CLI. Figures are built with matplotlib's object API on the
Agg canvas, so a headless run never touches pyplot's global state; only under a notebook's inline
or widget backend are they registered with pyplot, so that the notebook shows (and then closes)
them as it does any figure. Axis labels and units come from the column registry
(:mod:`maiasim.results.columns`). matplotlib is imported when a figure is drawn, not before.
"""

from __future__ import annotations

from .run import FIGURES, breakdown, latency_cdf, save_all, timeline, utilisation, utilization
from .studies import load_latency, pareto

__all__ = ["FIGURES", "breakdown", "latency_cdf", "load_latency", "pareto", "save_all", "timeline",
           "utilisation", "utilization"]
