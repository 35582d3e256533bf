"""The figures of maiasim.plot: what each shows, its labels, and that save_all writes them."""

from __future__ import annotations

import sys

import pytest
from conftest import small_scenario

import maiasim as ms

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from maiasim import plot  # noqa: E402


@pytest.fixture(scope="module")
def res():
    return ms.simulate(small_scenario())


@pytest.fixture(scope="module")
def two_workloads():
    """One workload with TTFT and TPOT targets, one with none."""
    sc = small_scenario().model_dump(mode="json")
    free = {**sc["workload"][0], "name": "batch", "slo": {}}
    sc["workload"].append(free)
    return ms.simulate(ms.from_dict(sc))


def _vlines(ax) -> dict[str, float]:
    """The labelled vertical lines of ``ax``: label -> x."""
    out = {}
    for line in ax.get_lines():
        x = line.get_xdata()
        if isinstance(line, Line2D) and len(x) == 2 and x[0] == x[1] \
                and not line.get_label().startswith("_"):
            out[line.get_label()] = float(x[0])
    return out


def test_latency_cdf_has_a_panel_per_latency_and_labelled_slo_lines(res):
    fig = plot.latency_cdf(res)
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [a.get_xlabel().split(" (")[0] for a in axes] == [
        "time to first token", "time per output token", "end-to-end latency"]
    assert all("(s)" in a.get_xlabel() and a.get_xscale() == "log" for a in axes)
    assert _vlines(axes[0]) == {"chat: p99 target 2 s": 2.0}
    assert _vlines(axes[1]) == {"chat: p99 target 100 ms": 0.1}
    assert _vlines(axes[2]) == {}  # no end-to-end target
    # the target is also written beside its line, not only in the legend
    assert any("target" in t.get_text() for t in axes[0].texts)
    assert any(t.get_text().startswith("chat: p99") for t in axes[0].get_legend().get_texts())


def test_latency_cdf_draws_no_slo_line_for_a_workload_without_targets(two_workloads):
    fig = plot.latency_cdf(two_workloads)
    labels = [lab for a in fig.axes for lab in _vlines(a)]
    assert labels and all(lab.startswith("chat:") for lab in labels)
    curves = {line.get_label().split(":")[0] for line in fig.axes[0].get_lines()
              if not line.get_label().startswith("_")}
    assert curves == {"chat", "batch"}


def test_timeline_panels_and_the_bin_width_in_the_title(res, tmp_path):
    p = tmp_path / "t.png"
    fig = plot.timeline(res, path=p)
    assert p.stat().st_size > 10_000
    bin_s = float(res.timeline.time_s.diff().iloc[1])
    assert f"{bin_s:g} s bins" in fig._suptitle.get_text()
    axes = fig.axes
    assert len(axes) == 4
    ylabels = [a.get_ylabel() for a in axes]
    assert "tokens/s" in ylabels[0] and "queued requests" in ylabels[1]
    assert "KV cache used" in ylabels[2] and "%" in ylabels[2] and "kW" in ylabels[3]
    # KV use is on its own scale: the axis ends just above the largest value, not at 100%
    kv_max = float(res.timeline.kv_used_frac.max())
    assert 0 < kv_max < axes[2].get_ylim()[1] <= max(kv_max * 1.25, 1e-4)
    assert axes[-1].get_xlabel() == "simulated time (s)"


def test_utilisation_is_a_bar_per_replica_for_each_metric(res):
    fig = plot.utilisation(res)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    n = len(res.replicas)
    for ax, col in zip(fig.axes, ("busy_frac", "mfu", "mbu", "kv_peak_frac"), strict=True):
        heights = [b.get_height() for b in ax.patches]
        assert heights == pytest.approx(res.replicas[col].tolist())
        assert len(heights) == n
        assert max(heights) < ax.get_ylim()[1]  # a small value is not squashed to the floor
    assert "MFU" in fig.axes[1].get_title() and "KV" in fig.axes[3].get_title()
    assert plot.utilization is plot.utilisation  # the notebooks' spelling


def test_breakdown_shares_sum_to_one_with_an_overhead_row(res):
    b = res.breakdown()
    assert b.share.sum() == pytest.approx(1.0, abs=1e-9)
    assert b.op.iloc[-1] == "overhead" and b.time_s.iloc[-1] > 0
    step = res.step_model.step_time
    assert b.attrs["step_s"] == pytest.approx(b.time_s.sum(), rel=1e-12)
    batch, ctx = b.attrs["batch"], b.attrs["context_tokens"]
    assert b.attrs["step_s"] == pytest.approx(step(batch, batch, batch, ctx * batch), rel=1e-9)


def test_breakdown_figure_names_chip_model_batch_and_context(res):
    fig = plot.breakdown(res)
    ax = fig.axes[0]
    title = ax.get_title()
    b = res.breakdown()
    for word in ("maia200", "llama-3.1-70b", f"batch {b.attrs['batch']}",
                 f"{b.attrs['context_tokens']:,} tokens of context"):
        assert word in title, word
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert "overhead (per iteration)" in names
    assert ax.get_xlabel() == "milliseconds per decode step"


def test_save_all_writes_every_figure_and_leaks_no_pyplot_figures(res, tmp_path):
    paths = plot.save_all(res, tmp_path / "plots")
    assert [p.name for p in paths] == ["latency_cdf.png", "timeline.png", "utilisation.png",
                                       "breakdown.png"]
    for p in paths:
        assert p.stat().st_size > 10_000, p
    plt = sys.modules.get("matplotlib.pyplot")
    assert plt is None or not plt.get_fignums()


def test_plots_are_reachable_as_ms_plot_without_importing_matplotlib_early():
    import subprocess
    import sys

    code = ("import sys, maiasim as ms; assert callable(ms.plot.latency_cdf); "
            "assert 'matplotlib' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
