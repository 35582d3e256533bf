"""The ``maiasim`` command line: run, validate, catalog, sweep, plan, check, calibrate.

Exit codes: 0 success, 1 a check found a regression, 2 bad input (one clear message, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from .errors import UsageError
from .physics.step import DoesNotFit
from .scenario.schema import LimitExceeded, ScenarioError, load_scenario, load_yaml

#: subcommands implemented in their own modules: (name, module, help)
EXTERNAL = (
    ("sweep", "maiasim.studies.sweep", "run a grid of scenario variants"),
    ("plan", "maiasim.studies.plan", "find the cheapest fleet that meets every SLO"),
    ("check", "maiasim.studies.check", "compare a scenario's summary against a baseline (CI)"),
    ("calibrate", "maiasim.calibrate.fit", "fit a chip calibration to measured times"),
)


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` pairs; values are parsed as YAML (numbers, booleans, lists)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--set {item!r}: expected key=value, e.g. deployment.replicas=8")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = load_yaml(v, f"--set {k.strip()}")
        except LimitExceeded:  # an alias bomb is no plain string
            raise
        except ScenarioError:
            out[k.strip()] = v
    return out


def output_dir(path: str) -> Path:
    """The ``-o`` directory, created and proven writable before any simulation time is spent."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        raise UsageError(f"--output {out}: cannot write there ({e.strerror or e})") from None
    return out


def load(path: str, sets: list[str] | None = None):
    return load_scenario(path, parse_sets(sets))


def _fmt_summary(df) -> str:
    cols = ["workload", "requests", "completed", "throughput_tok_s", "ttft_p50_s", "ttft_p99_s", "tpot_p50_s",
            "tpot_p99_s", "e2e_p99_s", "slo_attainment", "tokens_per_usd", "usd_per_mtok"]
    view = df[[c for c in cols if c in df.columns]]
    return view.to_string(index=False, float_format=lambda x: f"{x:,.4g}")


def cmd_run(args) -> int:
    import maiasim

    sc = load(args.scenario, args.set)
    out = output_dir(args.output) if args.output else None
    res = maiasim.simulate(sc, progress=not args.quiet and sys.stderr.isatty())
    print(f"{sc.name}: {sc.chips} x {sc.chip_name} as {sc.replicas} replicas of TP{sc.deployment.tensor_parallel}"
          f"/PP{sc.deployment.pipeline_parallel}, {sc.model_name}, simulated {res.duration_s:,.1f} s")
    print(_fmt_summary(res.summary))
    if out is not None:
        res.to_csv(out)
        if not args.no_plots:
            from . import plot

            plot.save_all(res, out)
        print(f"wrote frames{'' if args.no_plots else ' and plots'} to {out}/")
    return 0


def cmd_validate(args) -> int:
    from .engine.cluster import build_step_model

    sc = load(args.scenario, args.set)
    _, mem = build_step_model(sc)
    print(f"{args.scenario}: valid. {sc.chips} x {sc.chip_name}, {sc.replicas} replicas, model {sc.model_name}; "
          f"per chip {mem.weights_bytes / 1e9:.1f} GB weights, KV cache {mem.kv_capacity_tokens:,} tokens per replica")
    return 0


def cmd_catalog(args) -> int:
    import pandas as pd

    from . import catalog

    if args.kind == "chips":
        rows = [{"chip": k, "vendor": c.vendor, **{f"{p}_tflops": c.peak_tflops.get(p) for p in ("fp4", "fp8", "bf16")},
                 "hbm_gb": c.hbm_bytes / 1e9, "hbm_tb_s": c.hbm_bandwidth_bytes_per_s / 1e12, "tdp_w": c.tdp_w,
                 "scale_up": " > ".join(f"{t.name}({t.chips})" for t in c.scale_up)} for k, c in catalog.chips().items()]
    else:
        rows = [{"model": k, "params_b": m.params / 1e9, "active_b": m.active_params / 1e9, "layers": m.layers,
                 "hidden": m.hidden_size, "heads": m.heads, "kv_heads": m.kv_heads, "experts": m.experts or "",
                 "max_context": m.max_context} for k, m in catalog.models().items()]
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda x: f"{x:,.4g}", na_rep="-"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="maiasim", description="Simulate LLM serving on racks of AI accelerators.")
    p.add_argument("--version", action="version", version=f"maiasim {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate a scenario and print its summary")
    r.add_argument("scenario")
    r.add_argument("-o", "--output", help="directory for CSV frames and PNG plots")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a field, e.g. deployment.replicas=8")
    r.add_argument("--no-plots", action="store_true")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a scenario file without running it")
    v.add_argument("scenario")
    v.add_argument("--set", action="append", metavar="KEY=VALUE")
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("catalog", help="list the chips or models in the catalog")
    c.add_argument("kind", choices=["chips", "models"])
    c.set_defaults(func=cmd_catalog)

    for name, module, help_ in EXTERNAL:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        if hasattr(mod, "add_arguments") and hasattr(mod, "command"):
            sp = sub.add_parser(name, help=help_)
            mod.add_arguments(sp)
            sp.set_defaults(func=mod.command)
    return p


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ScenarioError, DoesNotFit, UsageError) as e:
        print(f"maiasim: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a file that cannot be read or written: the input's fault, not a bug
        print(f"maiasim: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("maiasim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
