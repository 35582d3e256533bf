"""The figures of maiasim.plot: what each shows, its labels, and that save_all writes them."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from conftest import small_scenario

import maiasim as ms

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from maiasim import plot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


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
    for ax, col in zip(fig.axes, ("stepping_frac", "mfu", "mbu", "kv_mean_frac"), strict=True):
        heights = [b.get_height() for b in ax.patches]
        assert heights == pytest.approx(res.replicas[col].tolist())
        assert len(heights) == n
        assert max(heights) < ax.get_ylim()[1]  # a small value is not squashed to the floor
    assert "MFU, time-weighted" in fig.axes[1].get_title()
    assert "KV" in fig.axes[3].get_title() and "time-weighted" in fig.axes[3].get_title()
    assert "stepping" in fig.axes[0].get_title()
    # each replica's KV peak is a marker on the KV panel, inside the axis
    peaks = fig.axes[3].collections[0].get_offsets()[:, 1]
    assert list(peaks) == pytest.approx(res.replicas.kv_peak_frac.tolist())
    assert max(peaks) < fig.axes[3].get_ylim()[1]
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


# ---- figures of a study: the Pareto plot of a plan, the knee of a rate sweep ------------------

def _plan_frame():
    """A plan frame as :func:`maiasim.studies.plan.plan` returns it: two priced chips on
    different bases, one without a price, one with no feasible plan."""
    import pandas as pd

    rows = [
        ("maia200", 4, 1, True, 4.25, "scenario cost.chip_hour_usd", 3.9, 0.06, None),
        ("maia200", 8, 1, True, 4.25, "scenario cost.chip_hour_usd", 7.8, 0.04, None),
        ("h100", 4, 2, True, 4.25, "catalog price.chip_hour_usd", 7.9, 0.25, None),
        ("mi300x", 4, 1, True, 0.29, "catalog capex with default TCO (6 y)", 0.27, 0.24, None),
        ("gb200", 4, 1, True, math.nan, "unknown: set cost.chip_hour_usd or cost.tco",
         math.nan, 0.09, None),
        ("a100", 4, None, False, math.nan, None, math.nan, math.nan,
         "ScenarioError: precision: a100 does not support fp8"),
    ]
    cols = ("chip", "tensor_parallel", "replicas", "feasible", "chip_hour_usd", "cost_source",
            "usd_per_m_output_tok", "ttft_p99_s", "reason")
    return pd.DataFrame(rows, columns=cols)


def _texts(fig) -> str:
    out = [t.get_text() for ax in fig.axes for t in ax.texts]
    out += [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center")]
    out += [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    out += [fig._supxlabel.get_text() if fig._supxlabel else ""]
    return "\n".join(out)


def test_pareto_shows_every_chip_with_its_cost_basis_and_unpriced_ones_apart(tmp_path):
    df = _plan_frame()
    p = tmp_path / "pareto.png"
    fig = plot.pareto(df, p, slo=2.0)
    assert p.stat().st_size > 10_000
    main, band = fig.axes[:2]
    assert "million output tokens" in main.get_ylabel()
    assert band.get_visible() and band.get_ylabel() == "unpriced"
    # every feasible point is drawn: priced ones on the cost axis, gb200 on the unpriced band
    priced = sum(len(c.get_offsets()) for c in main.collections)
    assert priced == 4
    assert [float(x) for c in band.collections for x, _ in c.get_offsets()] == [0.09]
    text = _texts(fig)
    for label in ("maia200 TP4 x 1", "maia200 TP8 x 1", "h100 TP4 x 2", "mi300x TP4 x 1",
                  "gb200 TP4 x 1"):
        assert label in text, label
    # each priced point names its price and basis; the legend holds the full basis per chip
    assert "maia200 TP4 x 1, \\$4.25/h scenario price" in text
    assert "mi300x TP4 x 1, \\$0.29/h owner's TCO" in text
    assert "4.25/chip-h, scenario cost.chip_hour_usd" in text
    assert "catalog capex with default TCO" in text
    assert "gb200: unpriced" in text and "no price for these chips" in text
    assert "different bases" in text  # rental, TCO and an assumption are not one basis
    assert "a100 (TP4)" in text  # no feasible plan: named, with its reason
    # the Pareto front joins the points no other beats on both cost and latency
    front = [ln for ln in main.get_lines() if ln.get_label() == "Pareto front"][0]
    assert list(front.get_xdata()) == [0.04, 0.06, 0.24]


def test_pareto_without_unpriced_chips_hides_the_band():
    df = _plan_frame()
    df = df[df.chip.isin(["maia200", "h100"])]
    fig = plot.pareto(df)
    assert not fig.axes[1].get_visible()
    assert "different bases" in _texts(fig)
    assert "p99 time to first token" in fig.axes[0].get_xlabel()


def test_pareto_of_a_real_plan_keeps_the_unpriced_chip(tmp_path):
    from maiasim import cli

    sc = small_scenario().model_dump(mode="json")
    sc["deployment"]["replicas"] = 1
    f = tmp_path / "s.yaml"
    import yaml

    f.write_text(yaml.safe_dump(sc))
    out = tmp_path / "plan"
    rc = cli.main(["plan", str(f), "--chips", "maia200,gb200", "--tp", "4", "--executor",
                   "serial", "-q", "-o", str(out)])
    assert rc == 0
    assert (out / "plan.csv").exists() and (out / "pareto.png").stat().st_size > 10_000


def _sweep_frame():
    import pandas as pd

    rows = []
    for rate, ttft, tpot, e2e, tok in ((1, 0.1, 0.01, 5, 100), (2, 0.1, 0.011, 5.2, 200),
                                      (4, 0.15, 0.013, 6, 400), (8, 0.3, 0.02, 9, 700),
                                      (16, 3.0, 0.05, 30, 900)):
        for rep, k in ((0, 0.9), (1, 1.1)):
            rows.append({"workload.0.arrival.rate_per_s": rate, "replication": rep,
                         "error": None, "ttft_p99_s": ttft * k, "tpot_p99_s": tpot * k,
                         "e2e_p99_s": e2e * k, "output_tok_s": tok * k})
    rows.append({"workload.0.arrival.rate_per_s": 32, "replication": 0, "error": "boom"})
    df = pd.DataFrame(rows)
    df.attrs["grid"] = ["workload.0.arrival.rate_per_s"]
    return df


def test_load_latency_draws_the_knee_per_latency(tmp_path):
    p = tmp_path / "ll.png"
    fig = plot.load_latency(_sweep_frame(), p, slo={"ttft_p99_s": 2.0})
    assert p.stat().st_size > 10_000
    top, low = fig.axes[:3], fig.axes[3]
    ttft = top[0]
    line = ttft.get_lines()[0]
    assert list(line.get_xdata()) == [1, 2, 4, 8, 16]  # the failed run is left out
    assert list(line.get_ydata()) == pytest.approx([0.1, 0.1, 0.15, 0.3, 3.0])
    assert ttft.get_yscale() == "log"
    labels = ttft.get_legend_handles_labels()[1]
    assert "p99 target 2 s" in labels
    assert any(lab.startswith("knee: 8/s") for lab in labels)
    assert "range over 2 replications" in labels
    assert "offered load" in low.get_xlabel() and "requests/s" in low.get_xlabel()
    assert "1 run failed" in fig._suptitle.get_text()


def test_load_latency_needs_a_rate():
    df = _sweep_frame().rename(columns={"workload.0.arrival.rate_per_s": "x"})
    df.attrs["grid"] = ["x"]
    with pytest.raises(ValueError, match="rate_per_s"):
        plot.load_latency(df)
    assert plot.load_latency(df, rate="x") is not None


def test_cli_sweep_over_a_rate_writes_the_knee(tmp_path):
    import yaml

    from maiasim import cli

    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(small_scenario().model_dump(mode="json")))
    out = tmp_path / "sweep"
    rc = cli.main(["sweep", str(f), "--grid", "workload.0.arrival.rate_per_s=1,4,8",
                   "--set", "horizon_s=20", "--executor", "serial", "-q", "-o", str(out)])
    assert rc == 0
    assert (out / "sweep.csv").exists() and (out / "load_latency.png").stat().st_size > 10_000
    out2 = tmp_path / "tp"
    assert cli.main(["sweep", str(f), "--grid", "deployment.tensor_parallel=4", "--set",
                     "horizon_s=20", "--executor", "serial", "-q", "-o", str(out2)]) == 0
    assert (out2 / "sweep.csv").exists() and not (out2 / "load_latency.png").exists()
    # a trace replayed faster: the load is 1 / time_scale times the trace's rate
    out3 = tmp_path / "scale"
    trace = str(ROOT / "scenarios" / "maia200-llama70b-conv.yaml")
    assert cli.main(["sweep", trace, "--grid", "workload.0.arrival.time_scale=1,0.5,0.25",
                     "--set", "horizon_s=60", "--executor", "serial", "-q", "-o", str(out3)]) == 0
    assert (out3 / "load_latency.png").stat().st_size > 10_000


def test_load_latency_of_a_time_scale_sweep_reads_in_multiples_of_the_trace():
    df = _sweep_frame()
    df["1 / time_scale"] = df.pop("workload.0.arrival.rate_per_s")
    fig = plot.load_latency(df, rate="1 / time_scale", unit="x the trace's recorded rate")
    assert fig.axes[3].get_xlabel() == ("offered load: 1 / time_scale (x the trace's recorded "
                                        "rate)")
    assert any(lab.startswith("knee: 8x") for lab in fig.axes[0].get_legend_handles_labels()[1])


def test_utilisation_of_a_fleet_colours_the_bars_by_pool():
    res = ms.simulate(ms.load_scenario(ROOT / "scenarios" / "fleet-maia200-gb200-two-tenants.yaml")
                      .with_overrides({"horizon_s": 60}))
    fig = plot.utilisation(res)
    pools = list(dict.fromkeys(res.replicas.pool.astype(str)))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == pools
    colours = {p.get_facecolor() for p in fig.axes[1].patches}
    assert len(colours) == len(pools)
