"""``maiasim catalog``: list the chips or models the catalog ships, one row each."""

from __future__ import annotations

import argparse

import pandas as pd

from .. import catalog

HELP = "list the chips or models in the catalog"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim catalog`` arguments."""
    p.add_argument("kind", choices=["chips", "models"])


def chips_frame() -> pd.DataFrame:
    """One row per catalog chip: peak math, HBM, power, scale-up tiers."""
    return pd.DataFrame([
        {"chip": k, "vendor": c.vendor,
         **{f"{p}_tflops": c.peak_tflops.get(p) for p in ("fp4", "fp8", "bf16")},
         "hbm_gb": c.hbm_bytes / 1e9, "hbm_tb_s": c.hbm_bandwidth_bytes_per_s / 1e12,
         "tdp_w": c.tdp_w, "scale_up": " > ".join(f"{t.name}({t.chips})" for t in c.scale_up)}
        for k, c in catalog.chips().items()])


def models_frame() -> pd.DataFrame:
    """One row per catalog model: size, shape, experts, context."""
    return pd.DataFrame([
        {"model": k, "params_b": m.params / 1e9, "active_b": m.active_params / 1e9,
         "layers": m.layers, "hidden": m.hidden_size, "heads": m.heads, "kv_heads": m.kv_heads,
         "experts": m.experts or "", "max_context": m.max_context}
        for k, m in catalog.models().items()])


def command(args: argparse.Namespace) -> int:
    """Print the table."""
    df = chips_frame() if args.kind == "chips" else models_frame()
    print(df.to_string(index=False, float_format=lambda x: f"{x:,.4g}", na_rep="-"))
    return 0
