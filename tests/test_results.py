"""The result frames: every column is defined in the registry, and the SLO test exists once."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, small_scenario

import maiasim as ms
from maiasim.results import columns, slo


@pytest.fixture(scope="module")
def res():
    return ms.simulate(small_scenario())


def _frames(r) -> dict[str, pd.DataFrame]:
    return {"summary": r.summary, "requests": r.requests, "replicas": r.replicas,
            "timeline": r.timeline, "breakdown": r.breakdown(), "pools": r.pools,
            "failures": r.failures}


def test_every_frame_column_is_in_the_registry_and_vice_versa(res):
    for frame, df in _frames(res).items():
        assert list(df.columns) == list(columns.names(frame)), frame


def test_every_registry_column_is_defined():
    seen = set()
    for c in columns.COLUMNS:
        assert (c.frame, c.name) not in seen, f"{c.frame}.{c.name} listed twice"
        seen.add((c.frame, c.name))
        assert c.definition.strip(), f"{c.frame}.{c.name} has no definition"
        assert c.better in ("higher", "lower", "true", None)
        if c.frame == "summary" and c.name != "workload":
            assert c.unit, f"summary.{c.name} has no unit"
        assert not (c.banded or c.ci) or c.frame == "summary"
        assert columns.column(c.frame, c.name) is c


def test_the_summary_refuses_a_column_the_registry_lacks():
    with pytest.raises(KeyError, match="extra"):
        columns.ordered("summary", [*columns.names("summary"), "new_metric"])
    with pytest.raises(KeyError, match="missing"):
        columns.ordered("summary", columns.names("summary")[1:])


def test_result_docstring_points_to_the_glossary():
    doc = ms.Result.__doc__
    for frame in ("summary", "requests", "replicas", "timeline"):
        assert f"``{frame}``" in doc
    assert "maiasim.results.columns" in doc


def test_frames_are_copies(res):
    df = res.requests
    df["ttft_s"] = 0.0
    assert (res.requests.ttft_s != 0.0).any()


# ---- the SLO test -------------------------------------------------------------------------------


def SLO(ttft_p99_s=None, tpot_p99_s=None, e2e_p99_s=None):  # noqa: N802 (stands in for the model)
    return SimpleNamespace(ttft_p99_s=ttft_p99_s, tpot_p99_s=tpot_p99_s, e2e_p99_s=e2e_p99_s)


def _requests(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"workload": ["a"] * n, "status": ["completed"] * n, "ttft_s": [0.1] * n,
            "tpot_s": [0.01] * n, "e2e_s": [1.0] * n}
    return pd.DataFrame({**base, **cols})


def test_requests_meeting_checks_each_target_and_completion():
    df = _requests(ttft_s=[0.1, 3.0, 0.1, 0.1], tpot_s=[0.01, 0.01, np.nan, 0.5],
                   status=["completed", "completed", "completed", "completed"])
    target = SLO(ttft_p99_s=2.0, tpot_p99_s=0.1)
    assert slo.requests_meeting(df, target).tolist() == [True, False, True, False]
    df.loc[0, "status"] = "dropped"
    assert slo.requests_meeting(df, None).tolist() == [False, True, True, True]


def test_p99_targets_met_and_verdict():
    target = SLO(ttft_p99_s=2.0, tpot_p99_s=0.1)
    row = {"ttft_p99_s": 1.0, "tpot_p99_s": math.nan, "e2e_p99_s": 9.0, "completed": 5,
           "requests": 5}
    assert slo.p99_targets_met(row, target) is True
    assert slo.p99_targets_met(row, SLO()) is None
    assert slo.p99_targets_met({**row, "completed": 4}, target) is False
    assert slo.p99_targets_met({**row, "ttft_p99_s": 2.5}, target) is False
    summ = pd.DataFrame([{**row, "workload": "a", "ttft_p99_s": 2.5, "slo_met": False},
                         {**row, "workload": "all", "slo_met": False}])
    ok, why = slo.verdict(summ, {"a": target})
    assert not ok and why == "a: ttft_p99_s 2.5 > 2"


def test_result_verdict_agrees_with_the_summary(res):
    ok, why = slo.result_verdict(res)
    s = res.summary
    assert ok == bool(s.loc[s.workload == "all", "slo_met"].iloc[0]) and (why == "") == ok


# ---- cost basis ---------------------------------------------------------------------------------


def test_ownership_defaults_are_the_catalog_facility_and_overrides_apply():
    from maiasim.catalog import prices

    d = copy.deepcopy(SMALL)
    d.pop("cost", None)
    sc = ms.from_dict(d)
    assert sc.cost.effective_basis == "ownership"  # the default basis
    res = ms.simulate(sc)
    f = prices.facility()
    assert f"{f.lifetime_years.value:g} y" in res.cost_source
    assert f"PUE {f.pue.value:g}" in res.cost_source and "measured" in res.cost_source
    d["cost"] = {"ownership": {"lifetime_years": 3.0}}
    shorter = ms.simulate(ms.from_dict(d))
    assert shorter.chip_hour_usd > res.chip_hour_usd  # faster depreciation costs more per hour
    s = shorter.summary
    assert (s.cost_basis == "ownership").all()
    assert (s.usd_per_chip_hour == shorter.chip_hour_usd).all()


def test_slo_attainment_is_undefined_without_targets():
    """A workload without latency targets has no attainment (NaN), not 1.0 (issue 15)."""
    import numpy as np

    sc = small_scenario(horizon_s=10)
    data = sc.model_dump()
    data["workload"].append({**data["workload"][0], "name": "batch",
                             "slo": {"ttft_p99_s": None, "tpot_p99_s": None, "e2e_p99_s": None}})
    s = ms.simulate(ms.from_dict(data)).summary.set_index("workload")
    assert np.isnan(s.loc["batch", "slo_attainment"])
    assert 0 <= s.loc["chat", "slo_attainment"] <= 1
    chat_n, batch_n = s.loc["chat", "requests"], s.loc["batch", "requests"]
    assert batch_n > 0 and chat_n > 0
    assert s.loc["all", "slo_attainment"] == s.loc["chat", "slo_attainment"]
