"""The command line: one module per subcommand, one error handler, entry points that work."""

import subprocess
import sys

import pytest

import maiasim
from maiasim import cli
from maiasim.cli import run as run_cmd
from maiasim.cli import sweep as sweep_cmd
from maiasim.results.columns import summary_column
from maiasim.studies.plan import PLAN_METRICS


def test_subcommands_in_order_each_a_module():
    assert list(cli.COMMANDS) == ["run", "validate", "memory", "catalog", "sweep", "plan",
                                  "check", "calibrate", "schema"]
    for name, mod in cli.COMMANDS.items():
        assert mod.__name__ == f"maiasim.cli.{name}"
        assert mod.HELP and mod.add_arguments.__doc__ and mod.command.__doc__, name


def test_printed_columns_are_registry_summary_columns():
    shown = {*run_cmd.SUMMARY_COLUMNS, *sweep_cmd.SHOW, *sweep_cmd.CI_SHOWN, *sweep_cmd.SPREAD,
             *PLAN_METRICS} - {"error", "chips", "replicas"}  # the sweep's own columns
    assert [c for c in sorted(shown) if summary_column(c) is None] == []


@pytest.mark.parametrize("exc, code, text", [
    (maiasim.ScenarioError("bad scenario"), 2, "maiasim: error: bad scenario"),
    (maiasim.DoesNotFit("too big"), 2, "maiasim: error: too big"),
    (FileNotFoundError("no such file: x.csv"), 2, "maiasim: error: no such file: x.csv"),
    (KeyboardInterrupt(), 130, "maiasim: interrupted"),
])
def test_one_handler_one_line(monkeypatch, capsys, exc, code, text):
    def boom(args):
        raise exc

    monkeypatch.setattr(cli.catalog, "command", boom)
    assert cli.main(["catalog", "chips"]) == code
    assert capsys.readouterr().err == text + "\n"


def test_a_bug_is_a_traceback_not_bad_input(monkeypatch):
    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli.catalog, "command", bug)
    with pytest.raises(KeyError):
        cli.main(["catalog", "chips"])


@pytest.mark.parametrize("entry", [["-m", "maiasim"], ["-m", "maiasim.cli"]])
def test_module_entry_points(entry):
    p = subprocess.run([sys.executable, *entry, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"maiasim {maiasim.__version__}"
