"""``maiasim catalog chips``: memory, bandwidth, peak math, power, priced with its basis, and how
far each chip's calibration can be trusted."""

import math

import pytest

from maiasim import catalog, cli
from maiasim.cli import catalog as catalog_cmd
from maiasim.spec.calibration import Calibration


def _rows(text: str) -> dict[str, list[str]]:
    """The table's rows by chip name (the legend below the blank line is left out)."""
    table = text.split("\n\n")[0].splitlines()
    return {line.split()[0]: line.split() for line in table[1:]}


def _chips_output(capsys, *extra: str) -> str:
    assert cli.main(["catalog", "chips", *extra]) == 0
    return capsys.readouterr().out


def test_every_catalog_chip_is_a_row_with_its_figures(capsys):
    out = _chips_output(capsys)
    header = out.splitlines()[0].split()
    assert header == ["chip", "vendor", "hbm_gb", "hbm_tb_s", "fp4_tf", "fp8_tf", "bf16_tf",
                      "tdp_w", "usd_rent", "usd_own", "calibration"]
    rows = _rows(out)
    assert sorted(rows) == sorted(catalog.chips())
    m = dict(zip(header, rows["maia200"], strict=True))
    assert m == {"chip": "maia200", "vendor": "Microsoft", "hbm_gb": "216", "hbm_tb_s": "7.00",
                 "fp4_tf": "10,145", "fp8_tf": "5,072", "bf16_tf": "1,268", "tdp_w": "750",
                 "usd_rent": "3.00", "usd_own": m["usd_own"], "calibration": "vendor"}
    assert 0.5 < float(m["usd_own"]) < 2.0


def test_compact_table_fits_100_columns_and_wide_adds_the_sources(capsys):
    out = _chips_output(capsys)
    assert max(map(len, out.splitlines())) <= 100
    wide = _chips_output(capsys, "--wide")
    header = wide.splitlines()[0].split()
    assert header[-2:] == ["scale_up", "price_source"]
    assert sorted(_rows(wide)) == sorted(catalog.chips())


def test_calibration_status_comes_from_the_data():
    assert catalog.calibration_status("maia200") == "vendor"
    assert catalog.calibration_status("h100") == "measured"
    assert catalog.calibration_status("a100") == "measured"
    assert catalog.calibration_status("mi300x") == "generic"
    # no calibration file: generic defaults
    assert not catalog.calibration_path("no-such-chip").is_file()
    assert catalog.calibration_status("no-such-chip") == "generic"
    # every shipped file states its basis, and it agrees with what its sources say
    for name in catalog.chips():
        cal = catalog.calibration(name)
        assert cal.basis is not None, name
        if cal.fitted_on:
            assert cal.basis == "measured", name
        if "all" in cal.sources:
            assert cal.basis == "generic", name


def test_calibration_without_a_basis_falls_back_to_fitted_on(monkeypatch):
    fitted = Calibration(chip="x", fitted_on="gemm: some profile")
    monkeypatch.setattr(catalog, "calibration", lambda name: fitted)
    assert catalog.calibration_status("x") == "measured"
    monkeypatch.setattr(catalog, "calibration", lambda name: Calibration(chip="x"))
    assert catalog.calibration_status("x") == "generic"


def test_cli_shows_generic_for_a_chip_without_a_calibration_file(monkeypatch, capsys):
    base = catalog.chip("mi300x")
    extra = base.model_copy(update={"vendor": "Acme"})
    table = {**catalog.chips(), "acme1": extra}
    monkeypatch.setattr(catalog, "chips", lambda: table)
    rows = _rows(_chips_output(capsys))
    assert rows["acme1"][1] == "Acme" and rows["acme1"][-1] == "generic"
    assert rows["maia200"][-1] == "vendor" and rows["h100"][-1] == "measured"


@pytest.mark.parametrize("chip, rental, ownership", [("h100", True, True),
                                                     ("maia200", True, True),
                                                     ("maia100", False, False)])
def test_price_shows_both_bases(chip, rental, ownership, capsys):
    rent, rent_src = catalog_cmd.price(chip, catalog.chip(chip), "rental")
    own, own_src = catalog_cmd.price(chip, catalog.chip(chip), "ownership")
    assert math.isnan(rent) != rental and math.isnan(own) != ownership
    row = _rows(_chips_output(capsys))[chip]
    assert row[-3] == (f"{rent:.2f}" if rental else "-")
    assert row[-2] == (f"{own:.2f}" if ownership else "-")
    if ownership:
        assert "capex" in own_src and 0 < own < 10
    if chip == "maia200":  # no source: a named assumption, never a silent default
        assert "assumption" in rent_src


def test_models_table_still_prints(capsys):
    assert cli.main(["catalog", "models"]) == 0
    assert "deepseek-v3" in capsys.readouterr().out
