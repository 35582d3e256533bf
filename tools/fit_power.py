"""Fit the chip power activity model to Splitwise's measured DGX-A100 power (tools, not library).

``P / TDP = idle + a * MFU + b * MBU``, least squares on the run-average power of the Llama-2-70B
runs (TP 2, 4, 8) of ``data/calibration/splitwise_sim/perf_model.csv``; the BLOOM-176B runs (TP8)
are held out and reported. Only the ``a100-80gb`` rows carry power (the H100 rows are zero: not
measured), and runs with average power below 0.25 TDP (the 8,192-token prompts, 0.17-0.18: below
any idle draw the same GPUs show at batch 1, a logging fault) are excluded. MFU and MBU are the
run averages implied by the model's size: prefill ``2 P`` FLOPs per prompt token and one weight
read, decode ``2 P`` FLOPs per token and one weight read plus the KV cache per step, over the
measured end-to-end time. The printed coefficients are the catalog's ``power`` block
(``maiasim/catalog/economics.yaml``); ``tests/test_power.py`` reruns this fit and checks them.

    PYTHONPATH=. python -m tools.fit_power
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from maiasim import catalog

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "data" / "calibration" / "splitwise_sim" / "perf_model.csv"
FIT_MODELS = ("llama2-70b",)
HELD_OUT = ("bloom-176b",)
MIN_AVG = 0.25


def runs() -> pd.DataFrame:
    """The measured A100 runs with their run-average MFU and MBU."""
    d = pd.read_csv(CSV)
    d = d[(d.hardware == "a100-80gb") & (d.average_power >= MIN_AVG)].copy()
    chip = catalog.chip("a100")
    peak, bw = chip.peak_flops("bf16"), chip.hbm_bandwidth_bytes_per_s
    mfu, mbu = [], []
    for r in d.itertuples():
        m = catalog.model({"llama2-70b": "llama-2-70b"}.get(r.model, r.model))
        w = 2.0 * m.params  # FP16 weights
        kv = m.layers * 2 * m.kv_heads * m.head_dim * 2.0  # bytes per token of context
        steps = np.arange(r.token_size)
        flops = 2.0 * m.params * r.batch_size * (r.prompt_size + r.token_size)
        hbm = w * (1 + r.token_size) + (r.batch_size * kv * (r.prompt_size + steps)).sum()
        t = r.e2e_time / 1e3 * r.tensor_parallel  # chip-seconds
        mfu.append(flops / (peak * t))
        mbu.append(hbm / (bw * t))
    d["mfu"], d["mbu"] = mfu, mbu
    return d


def fit(d: pd.DataFrame) -> tuple[float, float, float]:
    """(idle, a, b) by least squares on ``d``'s average power (fractions of TDP)."""
    x = np.column_stack([np.ones(len(d)), d.mfu, d.mbu])
    coef, *_ = np.linalg.lstsq(x, d.average_power.to_numpy(), rcond=None)
    return tuple(float(c) for c in coef)


def predict(d: pd.DataFrame, coef) -> np.ndarray:
    """Predicted average power (fractions of TDP)."""
    return coef[0] + coef[1] * d.mfu.to_numpy() + coef[2] * d.mbu.to_numpy()


def main() -> None:
    d = runs()
    train, test = d[d.model.isin(FIT_MODELS)], d[d.model.isin(HELD_OUT)]
    coef = fit(train)
    print(f"fit on {len(train)} runs ({', '.join(FIT_MODELS)}): idle={coef[0]:.4f} "
          f"a_mfu={coef[1]:.4f} b_mbu={coef[2]:.4f}")
    for name, part in (("fit", train), ("held out", test)):
        err = predict(part, coef) - part.average_power.to_numpy()
        print(f"{name}: {len(part)} runs, MAE {np.abs(err).mean():.4f} TDP, mean error "
              f"{err.mean():+.4f} TDP, max |error| {np.abs(err).max():.4f}; mfu "
              f"{part.mfu.min():.3f}-{part.mfu.max():.3f}, mbu {part.mbu.min():.3f}-"
              f"{part.mbu.max():.3f}")


if __name__ == "__main__":
    main()
