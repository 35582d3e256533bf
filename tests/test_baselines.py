"""Every scenario in scenarios/ against its committed baseline in baselines/ (default tolerances).

A change that moves predictions beyond tolerance fails here, on purpose. If the change is intended,
regenerate the baselines and commit them with the change:

    make baselines        # = python -m maiasim check --update-all scenarios baselines
"""

from pathlib import Path

import pytest

from maiasim.studies import check as chk
from maiasim.studies.baseline import REGENERATE, default_baseline

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
BASELINES = ROOT / "baselines"


def test_there_are_scenarios():
    assert SCENARIOS, "no scenarios/*.yaml found"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_matches_its_baseline(scenario):
    baseline = default_baseline(scenario, BASELINES)
    assert baseline.is_file(), (f"no baseline for {scenario.name}: run `make baselines` "
                                f"and commit {baseline.relative_to(ROOT)}")
    rep = chk.check(scenario, baseline)
    assert rep.passed, (f"{rep.headline()}\n{rep.table()}\n"
                        f"If the change is intended: make baselines (= {REGENERATE}) "
                        f"and commit baselines/.")


def test_every_baseline_has_a_scenario():
    stems = {p.stem for p in SCENARIOS}
    stale = sorted(p.name for p in BASELINES.glob("*.csv") if p.stem not in stems)
    assert not stale, f"baselines without a scenario (delete them): {stale}"
