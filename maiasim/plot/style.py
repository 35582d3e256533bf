"""What every figure shares: a Figure that is safe headless and shows in notebooks, saving,
and the axis formatting that keeps small values and wide ranges readable."""

from __future__ import annotations

import sys

import numpy as np

#: matplotlib backends under which figures go through pyplot, so that a notebook shows them
NOTEBOOK_BACKENDS = ("module://matplotlib_inline.backend_inline", "module://ipympl.backend_nbagg",
                     "inline", "nbagg", "widget", "ipympl")


def figure(figsize: tuple[float, float]):
    """A constrained-layout Figure: a plain ``matplotlib.figure.Figure`` (Agg canvas) unless a
    notebook backend is active, where pyplot creates it so the notebook displays it."""
    import matplotlib

    try:
        backend = matplotlib.get_backend(auto_select=False)  # matplotlib >= 3.10
    except TypeError:
        backend = matplotlib.rcParams["backend"]
    if str(backend).lower() in NOTEBOOK_BACKENDS:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def done(fig, path):
    """Save ``fig`` to ``path`` (when given) and return it."""
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def fmt_s(x: float) -> str:
    """Seconds for a label: 2 s, 100 ms, 8.8 ms."""
    return f"{x:.3g} s" if x >= 1 else f"{x * 1e3:.3g} ms"


def pct(ax, decimals: int | None = None) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=decimals))


def headroom(ax, values, floor: float = 0.0) -> None:
    """A y axis from 0 to a little above the largest value (so a small value fills the panel)."""
    top = float(np.nanmax(values)) if len(values) and np.isfinite(np.nanmax(values)) else 0.0
    ax.set_ylim(0, max(top * 1.2, floor) or 1.0)


def log_seconds(ax, axis: str = "x", span: float = 10.0) -> None:
    """A log axis (``"x"`` or ``"y"``) with ticks at 1, 2 and 5 x 10^n (more when the data
    ``span``, largest over smallest, is under a decade), written as plain numbers (a range of less
    than a decade otherwise gets overlapping minor-tick labels or none)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    a = getattr(ax, f"{axis}axis")
    subs = ((1.0, 2.0, 5.0) if span >= 10 else (1.0, 2.0, 3.0, 5.0, 7.0) if span >= 3
            else tuple(float(k) for k in range(1, 10)))
    a.set_major_locator(LogLocator(subs=subs))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(NullFormatter())


def release(fig) -> None:
    """Close a figure pyplot holds (under a notebook backend); a plain Figure needs nothing."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)  # a no-op for a figure pyplot does not manage
