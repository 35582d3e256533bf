"""``maiasim catalog``: list the chips, models or serving stacks the catalog ships, one row each."""

from __future__ import annotations

import argparse
import math

import pandas as pd

from .. import catalog
from ..results.economics import chip_hour_usd
from ..scenario.cost import CostConfig
from ..spec.hardware import ChipSpec

HELP = "list the chips, models or serving stacks in the catalog"

#: The two prices of a chip-hour the table shows (docs/economics.md).
PRICE_BASES = {
    "rental": "usd_rent: the catalog's market rental price per chip-hour",
    "ownership": ("usd_own (default basis): capex over life + electricity x PUE + facility rent,\n"
                  "    at the provisioned power (a run charges its measured power)"),
    "none": "-: no figure on that basis (give cost.chip_hour_usd, cost.ownership or --price)",
}
#: What a calibration status means (see :func:`maiasim.catalog.calibration_status`).
CALIBRATION_STATUSES = {
    "measured": "factors fitted to, or read from, independent measurements of the chip",
    "vendor": "factors from the chip maker's own figures, not independently measured",
    "generic": "middle-of-the-road defaults with wide ranges: quote uncertainty runs",
}

#: Printed headers of the compact table (units in the name; TFLOPS are dense).
_SHORT = {"hbm_gb": "hbm_gb", "hbm_tb_s": "hbm_tb_s", "fp4_tflops": "fp4_tf",
          "fp8_tflops": "fp8_tf", "bf16_tflops": "bf16_tf", "tdp_w": "tdp_w",
          "usd_rental": "usd_rent", "usd_ownership": "usd_own",
          "calibration": "calibration"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``maiasim catalog`` arguments."""
    p.add_argument("kind", choices=["chips", "models", "stacks"])
    p.add_argument("--wide", action="store_true", help=(
        "chips: add the capex, the scale-up tiers and the full price source (over 100 columns)"))


def price(name: str, chip: ChipSpec, basis: str) -> tuple[float, str]:
    """(USD per chip-hour, source) of catalog chip ``name`` on ``basis`` (NaN: no figure), by the
    rule of :func:`maiasim.results.economics.chip_hour_usd`."""
    usd, _, source = chip_hour_usd(CostConfig(basis=basis), name, chip)
    return usd, source


def chips_frame() -> pd.DataFrame:
    """One row per catalog chip: HBM, peak math, power, the default price and its basis, the
    calibration status, capex and scale-up tiers."""
    rows = []
    for k, c in catalog.chips().items():
        rent, rent_src = price(k, c, "rental")
        own, own_src = price(k, c, "ownership")
        rows.append({
            "chip": k, "vendor": c.vendor,
            "hbm_gb": c.hbm_bytes / 1e9, "hbm_tb_s": c.hbm_bandwidth_bytes_per_s / 1e12,
            **{f"{p}_tflops": c.peak_tflops.get(p) for p in ("fp4", "fp8", "bf16")},
            "tdp_w": c.tdp_w, "usd_rental": rent, "usd_ownership": own,
            "calibration": catalog.calibration_status(k),
            "price_source": f"rental: {rent_src}; ownership: {own_src}",
            "scale_up": " > ".join(f"{t.name}({t.chips})" for t in c.scale_up)})
    return pd.DataFrame(rows)


def models_frame() -> pd.DataFrame:
    """One row per catalog model: size, shape, experts, context."""
    return pd.DataFrame([
        {"model": k, "params_b": m.params / 1e9, "active_b": m.active_params / 1e9,
         "layers": m.layers, "hidden": m.hidden_size, "heads": m.heads, "kv_heads": m.kv_heads,
         "experts": m.experts or "", "max_context": m.max_context}
        for k, m in catalog.models().items()])


def stacks_frame() -> pd.DataFrame:
    """One row per serving-stack profile: scheduler, memory semantics and fraction, default KV
    format, front-end time (sources: ``maiasim/catalog/stacks.yaml``)."""
    return pd.DataFrame([
        {"stack": k, "version": st.version, "scheduler": st.scheduler,
         "chunked": st.chunked_prefill, "memory": st.memory_semantics,
         "fraction": (f"{st.memory_fraction:g}" if st.memory_fraction is not None
                      else "from reserve"),
         "kv_cache": st.kv_cache, "front_end_ms": st.front_end_request_s * 1e3}
        for k, st in catalog.stacks().items()])


def _num(x, fmt: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def chips_table(wide: bool = False) -> str:
    """The chips table as printed: readable in 100 columns, or every column with ``wide``; a
    legend of the price bases and calibration statuses follows."""
    df = chips_frame()
    formats = {"hbm_gb": ".4g", "hbm_tb_s": ".2f", "fp4_tflops": ",.0f", "fp8_tflops": ",.0f",
               "bf16_tflops": ",.0f", "tdp_w": ",.0f", "usd_rental": ".2f",
               "usd_ownership": ".2f"}
    for col, fmt in formats.items():
        df[col] = [_num(x, fmt) for x in df[col]]
    if wide:
        cols = ["chip", "vendor", *_SHORT, "scale_up", "price_source"]
    else:
        cols = ["chip", "vendor", *_SHORT]
    table = df[cols].rename(columns=_SHORT).to_string(index=False)
    legend = ["",
              "fp*_tf: dense peak TFLOPS (- : format not supported). USD per chip-hour on each",
              "cost basis (--wide adds the sources; docs/economics.md):"]
    legend += [f"  {k}: {v}" for k, v in PRICE_BASES.items()]
    legend += [f"  calibration {k}: {v}" for k, v in CALIBRATION_STATUSES.items()]
    return "\n".join([table, *legend])


def command(args: argparse.Namespace) -> int:
    """Print the table."""
    if args.kind == "chips":
        print(chips_table(wide=getattr(args, "wide", False)))
        return 0
    df = models_frame() if args.kind == "models" else stacks_frame()
    print(df.to_string(index=False, float_format=lambda x: f"{x:,.4g}", na_rep="-"))
    return 0
