"""Accuracy report: ``python -m maiasim.validation`` (``make validate``).

Fits each chip's calibration on one part of the public measurements in ``shared/data/calibration``
and checks the simulator's physics on the rest, then writes ``docs/validation.md``, per-case CSVs
and plots in ``docs/validation/``, the fitted Splitwise serving-stack profiles
(``docs/validation/calibration_<chip>_splitwise.yaml``), and prints the headline numbers.

The data directory is ``$MAIASIM_CALIBRATION_DATA`` or ``../shared/data/calibration`` beside the
repository. Every prediction goes through the same functions the simulator uses
(:func:`maiasim.physics.step.gemm_time`, :mod:`maiasim.physics.network`, :class:`maiasim.physics.step.StepModel`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from . import catalog
from .calibrate import fit
from .physics.network import allgather_time, allreduce_time, alltoall_time, group_fanouts
from .physics.step import (
    Parallelism,
    Precisions,
    StepModel,
    elementwise_kernels,
    elementwise_time,
    gemm_time,
)
from .spec.calibration import Calibration
from .spec.hardware import ChipSpec
from .spec.model import ModelSpec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OUT = DOCS / "validation"

#: targets from the issue: (dataset group, phase or None) -> (median %, p90 % or None) on held-out rows
TARGETS = {
    "splitwise-prefill": (5.0, 15.0),
    "splitwise-decode": (5.0, 15.0),
    "gemm": (10.0, None),
    "allreduce": (10.0, None),
}

#: Qwen 2.5 7B (not in the catalog): the published config.json of Qwen/Qwen2.5-7B (Hugging Face; read via
#: verbatim copies with _name_or_path Qwen/Qwen2.5-7B, e.g. huggingface.co/AmberYifan/Qwen2.5-7B-gen-dpo-10k):
#: num_hidden_layers 28, hidden_size 3584, num_attention_heads 28, num_key_value_heads 4, head_dim 3584/28 =
#: 128, intermediate_size 18944, vocab_size 152064, tie_word_embeddings false, max_position_embeddings 131072.
QWEN25_7B = ModelSpec(hf_id="Qwen/Qwen2.5-7B", layers=28, hidden_size=3584, heads=28, kv_heads=4, head_dim=128,
                      ffn_size=18944, vocab_size=152064, max_context=131072, gated_mlp=True, tied_embeddings=False,
                      source="Qwen/Qwen2.5-7B config.json (see maiasim/validation.py)")

#: GPT-3 175B layer as profiled by LLMCompass (ae/figure5/ijkl/test_transformer.py: d_model 12288,
#: 96 heads, batch 8, sequence 2048, 1024 generated tokens, 4-way tensor parallel, FP16)
GPT3_LAYER = ModelSpec(hf_id="gpt3-175b-layer", layers=1, hidden_size=12288, heads=96, kv_heads=96, head_dim=128,
                       ffn_size=4 * 12288, vocab_size=1, gated_mlp=False, tied_embeddings=True)


#: serving-stack factors fitted to the Splitwise iteration times (kernel factors stay at the Vidur fit)
SPLITWISE_STACK_FACTORS = ("iteration_overhead_s", "layer_launch_s", "prefill_layer_launch_s", "attention_prefill_fraction",
                           "attention_decode_hbm_fraction", "allreduce_fraction", "collective_overhead_s",
                           "collective_rank_latency_s", "per_sequence_overhead_s", "per_token_overhead_s",
                           "allreduce_knee_tokens", "allreduce_knee_slowdown", "allreduce_knee_width")


def data_dir() -> Path:
    env = os.environ.get("MAIASIM_CALIBRATION_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data" / "calibration"


@cache
def validation_chips() -> dict[str, ChipSpec]:
    """Chips used only here (catalog/validation_chips.yaml), e.g. the MI210 of the LLMCompass data."""
    text = resources.files("maiasim.catalog").joinpath("validation_chips.yaml").read_text(encoding="utf-8")
    return {k: ChipSpec.model_validate(v) for k, v in (yaml.safe_load(text) or {}).items()}


def chip_spec(name: str) -> ChipSpec:
    return validation_chips()[name] if name in validation_chips() else catalog.chip(name)


@dataclass
class Dataset:
    """One validated dataset: per-case report rows (``split`` = fit / held-out) and how it was fitted."""

    key: str
    title: str
    group: str  # gemm | allreduce | sendrecv | splitwise | layer
    chip: str
    source: str
    split_rule: str
    report: pd.DataFrame
    fitted: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    excluded: pd.DataFrame | None = None


# ---- datasets ------------------------------------------------------------------------------------


def _gemm_dataset(key, title, chip, path, *, calib=None, fit_on=True, kind="gemm", source="") -> tuple[Dataset, Calibration]:
    spec = chip_spec(chip)
    base = calib or (catalog.calibration(chip) if chip in catalog.chips() else Calibration(chip=chip))
    cases = fit.read_cases(kind, path)
    if fit_on:
        cal, rep = fit.fit_calibration(spec, kind, path, base=base, cases=cases)
        names = [n.format(prec="bf16") for n in fit.DEFAULT_PARAMS[kind]]
        fitted = {n: fit.get_param(cal, n) for n in names}
        rule = ("fit on TP1 and TP4 rows, held out TP2 and TP8" if kind == "gemm"
                else "fit on even rows of each sweep, held out odd rows")
    else:
        cal = base
        rep = fit.report(cases.assign(split=fit.HELD_OUT), fit.predict(kind, spec, cal, cases))
        fitted, rule = {}, "all rows held out (predicted with a calibration fitted on another dataset)"
    return Dataset(key, title, "gemm", chip, source, rule, rep, fitted), cal


def gemm_datasets(d: Path) -> tuple[list[Dataset], dict[str, Calibration]]:
    v = d / "vidur_profiles" / "compute"
    lc = d / "llmcompass_real_hardware"
    out, cals = [], {}
    ds, cal_h = _gemm_dataset("vidur-gemm-h100-llama2-70b", "Vidur GEMM profiles, H100, Llama-2-70B shapes", "h100",
                              v / "h100/meta-llama/Llama-2-70b-hf/mlp.csv", source="microsoft/vidur data/profiling (FP16)")
    out.append(ds)
    ds, _ = _gemm_dataset("vidur-gemm-h100-llama2-7b", "Vidur GEMM profiles, H100, Llama-2-7B shapes", "h100",
                          v / "h100/meta-llama/Llama-2-7b-hf/mlp.csv", calib=cal_h, fit_on=False,
                          source="microsoft/vidur data/profiling (FP16)")
    out.append(ds)
    ds, cal_a = _gemm_dataset("vidur-gemm-a100-llama2-70b", "Vidur GEMM profiles, A100, Llama-2-70B shapes", "a100",
                              v / "a100/meta-llama/Llama-2-70b-hf/mlp.csv", source="microsoft/vidur data/profiling (FP16)")
    out.append(ds)
    ds, _ = _gemm_dataset("llmcompass-matmul-a100", "LLMCompass matmul sweep, A100", "a100", lc / "matmul_A100.csv",
                          calib=cal_a, fit_on=False, kind="matmul", source="PrincetonUniversity/LLMCompass ae/figure5 (FP16)")
    out.append(ds)
    ds, _ = _gemm_dataset("llmcompass-matmul-a100-selffit", "LLMCompass matmul sweep, A100, fitted on itself", "a100",
                          lc / "matmul_A100.csv", calib=catalog.calibration("a100"), kind="matmul",
                          source="PrincetonUniversity/LLMCompass ae/figure5 (FP16)")
    ds.notes.append("a second A100 calibration fitted on this sweep alone, to separate the model's shape error from "
                    "the difference between the two A100 measurements (Vidur vs LLMCompass)")
    out.append(ds)
    ds, cal_m = _gemm_dataset("llmcompass-matmul-mi210", "LLMCompass matmul sweep, MI210", "mi210", lc / "matmul_MI210.csv",
                              calib=Calibration(chip="mi210"), kind="matmul",
                              source="PrincetonUniversity/LLMCompass ae/figure5 (FP16); MI210 from catalog/validation_chips.yaml")
    out.append(ds)
    cals.update({"h100": cal_h, "a100": cal_a, "mi210": cal_m})
    return out, cals


def collective_datasets(d: Path, base: Calibration) -> tuple[list[Dataset], Calibration]:
    n = d / "vidur_profiles" / "network" / "h100_dgx"
    spec = catalog.chip("h100")
    cal, rep = fit.fit_calibration(spec, "allreduce", n / "all_reduce.csv", base=base)
    ar = Dataset("vidur-allreduce-h100", "Vidur NCCL all-reduce, DGX-H100 (2, 4, 8 GPUs, 2 KB-67 MB)", "allreduce", "h100",
                 "microsoft/vidur data/profiling/network/h100_dgx/all_reduce.csv", "fit on 2- and 8-GPU rows, held out 4-GPU rows",
                 rep, {k: fit.get_param(cal, k) for k in fit.DEFAULT_PARAMS["allreduce"]},
                 ["`size` is in bytes (vidur's collective wrapper records `2 x` its FP16 element count); "
                  "the shared README's 'fp16 elements per rank' is corrected here"])
    sr_cases = fit.read_vidur_collective(n / "send_recv.csv")
    sr = fit.report(sr_cases.assign(split=fit.HELD_OUT), fit.predict_collective(spec, cal, sr_cases))
    sr_ds = Dataset("vidur-sendrecv-h100", "Vidur NCCL send/recv, DGX-H100 (same node and across nodes)", "sendrecv", "h100",
                    "microsoft/vidur data/profiling/network/h100_dgx/send_recv.csv",
                    "all rows held out; no factor is fitted to them (pipeline sends use link bandwidth + overheads)", sr,
                    notes=["devices_per_node 2 = both ranks in one DGX (NVLink tier), 1 = across nodes (InfiniBand tier)"])
    return [ar, sr_ds], cal


ELEMENTWISE_OPS = {"gelu": "GeLU", "layernorm": "LayerNorm", "softmax": "Softmax"}


def elementwise_datasets(d: Path, cals: dict[str, Calibration]) -> tuple[list[Dataset], dict[tuple[str, str], Calibration]]:
    """LLMCompass GeLU / LayerNorm / Softmax sweeps on A100 (FP16) and MI210 (FP32): one element-wise
    bandwidth fraction and per-kernel latency fitted per operator, on top of each chip's GEMM calibration."""
    lc = d / "llmcompass_real_hardware"
    out, fitted = [], {}
    for chip, suffix, nbytes in (("a100", "A100", 2.0), ("mi210", "MI210", 4.0)):
        for op, name in ELEMENTWISE_OPS.items():
            path = lc / f"{op}_{suffix}.csv"
            cases = fit.read_llmcompass_elementwise(path, nbytes)
            cal, rep = fit.fit_calibration(chip_spec(chip), "elementwise", path, base=cals[chip], cases=cases)
            fitted[(chip, op)] = cal.model_copy(update={"chip": chip})
            notes = []
            if chip == "a100":
                notes.append("LLMCompass ran LayerNorm and GeLU under torch.compile and Softmax eagerly (PyTorch 2.0, "
                             "CUDA 11.7); the fitted latency is that harness's per-op cost through the framework, not a "
                             "serving stack's, so it stays out of the shipped calibration")
            else:
                notes.append("LLMCompass ran the MI210's non-matmul operators in FP32 (ROCm 5.4.2): 4 bytes per value")
            if op == "layernorm":
                notes.append("throughput falls once the normalised row N passes 8,192 (the reduction's cost), which a "
                             "bandwidth-plus-latency kernel does not have")
            out.append(Dataset(f"llmcompass-{op}-{chip}", f"LLMCompass {name} sweep, {chip.upper()}", "elementwise", chip,
                               f"PrincetonUniversity/LLMCompass ae/figure5 ({'FP16' if nbytes == 2 else 'FP32'})",
                               "fit on even rows of each sweep, held out odd rows", rep,
                               {k: fit.get_param(cal, k) for k in fit.DEFAULT_PARAMS["elementwise"]}, notes))
    return out, fitted


def splitwise_dataset(d: Path, chip: str, hardware: str, base: Calibration) -> tuple[Dataset, Calibration]:
    path = d / "splitwise_sim" / "perf_model.csv"
    allrows = fit.read_splitwise(path, hardware)
    cases = allrows[allrows.excluded == ""].reset_index(drop=True)
    params = SPLITWISE_STACK_FACTORS
    # Two stages: the stack factors without the prefill floor and the all-reduce knee first (they set
    # the overheads and latencies), then all of them from there, the knee starting where the measured
    # per-token prefill cost turns (2,048-4,096 batch tokens). One stage from the shipped defaults
    # settles in a worse basin (A100 fit-split loss 0.48 against 0.37).
    first = [p for p in params if p not in ("prefill_layer_launch_s", "allreduce_knee_tokens", "allreduce_knee_slowdown",
                                            "allreduce_knee_width")]
    cal, _ = fit.fit_calibration(chip, "iteration", path, base=base, params=first, cases=cases)
    start = cal.model_copy(update={"prefill_layer_launch_s": cal.layer_launch_s, "allreduce_knee_tokens": 2048.0,
                                   "allreduce_knee_slowdown": 1.0, "allreduce_knee_width": 0.5})
    cal, rep = fit.fit_calibration(chip, "iteration", path, base=start, params=params, cases=cases)
    return Dataset(
        f"splitwise-{chip}", f"Splitwise iteration times, DGX-{chip.upper()} (Llama-2-70B TP2/4/8, BLOOM-176B TP8)",
        "splitwise", chip, "Mutinifni/splitwise-sim data/perf_model.csv (FP16, vLLM-era stack, 2023)",
        f"held out prompt sizes {fit.SPLITWISE_HELD_OUT_PROMPTS}, batch sizes {fit.SPLITWISE_HELD_OUT_BATCHES} and output "
        f"lengths {fit.SPLITWISE_HELD_OUT_TOKENS}; fit on the rest (every TP and both models appear in both parts)",
        rep, {k: fit.get_param(cal, k) for k in params},
        ["GEMM and HBM factors stay at the kernel-level fit (Vidur); only serving-stack factors are fitted here"],
        allrows[allrows.excluded != ""]), cal


def transformer_layer_dataset(d: Path, cal: Calibration, elementwise: dict[str, Calibration]) -> Dataset:
    """LLMCompass GPT-3 layer on 4 x A100 (TP4): 12 per-operator latencies, prefill and decode.

    ``elementwise`` holds the A100 calibrations fitted to LLMCompass's own LayerNorm and GeLU sweeps,
    which predict the layer's norm and GeLU kernels (same harness)."""
    lc = d / "llmcompass_real_hardware"
    names = ["Q_K_V", "Q_mul_K", "A_mul_V", "Wo_proj", "W1_proj", "W2_proj", "Softmax", "LayerNorm_MHA",
             "LayerNorm_FFN", "GeLU", "AllReduce_MHA", "AllReduce_FFN"]
    chip = catalog.chip("a100")
    tp, b, s, gen = 4, 8, 2048, 1024
    m = GPT3_LAYER
    step = StepModel(chip, m, Precisions("bf16", "bf16", "bf16"), Parallelism(tp), cal, max_tokens=1)
    h = m.hidden_size
    kernels = {name: elements for name, elements, _ in elementwise_kernels(m, tp)}

    def norms_and_gelu(T):  # the layer's two LayerNorms and its GeLU, each read once and written once
        ln, gelu = elementwise["layernorm"], elementwise["gelu"]
        bw = chip.hbm_bandwidth_bytes_per_s
        return float(2 * elementwise_time(bw, ln, T * kernels["norm"], 2, 2.0)
                     + elementwise_time(bw, gelu, T * kernels["activation"], 2, 2.0))

    rows = []
    for phase, fname, T in (("prefill", "transformer_A100.csv", b * s), ("decode", "transformerAR_A100.csv", b)):
        meas = dict(zip(names, np.loadtxt(lc / fname), strict=True))
        ops = step.token_ops(np.array([float(T)]))
        if phase == "prefill":
            attn = step.prefill_attention(s, 0)[0] * b
        else:
            attn = step.decode_s_per_ctx * b * (s + gen)
        groups = {
            "QKV GEMM": (["Q_K_V"], float(ops["qkv_proj"][0][0])),
            "O GEMM": (["Wo_proj"], float(ops["o_proj"][0][0])),
            "MLP GEMMs (W1+W2)": (["W1_proj", "W2_proj"], float(ops["mlp"][0][0])),
            "attention (QK, softmax, AV)": (["Q_mul_K", "A_mul_V", "Softmax"], float(attn)),
            "norms + GeLU": (["LayerNorm_MHA", "LayerNorm_FFN", "GeLU"], norms_and_gelu(T)),
            "all-reduces (2)": (["AllReduce_MHA", "AllReduce_FFN"], float(2 * allreduce_time(chip, cal, tp, T * h * 2.0))),
        }
        for g, (parts, pred) in groups.items():
            rows.append({"phase": phase, "op": g, "tokens": T, "measured_s": sum(meas[p] for p in parts),
                         "predicted_s": pred, "split": fit.HELD_OUT})
    rep = pd.DataFrame(rows)
    rep["error_pct"] = 100 * (rep.predicted_s - rep.measured_s) / rep.measured_s
    return Dataset("llmcompass-gpt3-layer-a100", "LLMCompass GPT-3 175B layer on 4 x A100 (TP4), per operator group",
                   "layer", "a100", "PrincetonUniversity/LLMCompass ae/figure5/ijkl (batch 8, 2048 prompt, 1024 generated)",
                   "all rows held out (shipped A100 calibration; norms and GeLU with the element-wise factors fitted "
                   "to LLMCompass's own A100 LayerNorm and GeLU sweeps)", rep,
                   notes=["our model has no separate softmax kernel: attention (QK, softmax, AV) is predicted as one "
                          "fused group; a 4 x A100 allreduce uses the H100 NCCL factors"])


# ---- Maia 200 against Microsoft's measurements (HARDWARE_FACTS §1b) ---------------------------------


def maia200_comparison(samples: int = 200, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model predictions beside HARDWARE_FACTS §1b; p5/p95 over the calibration ranges."""
    chip = catalog.chip("maia200")
    nominal = catalog.calibration("maia200")
    rng = np.random.default_rng(seed)
    draws = [nominal] + [nominal.sample(rng) for _ in range(samples)]
    big = 1 << 30  # 1 GiB message: the bandwidth-bound regime the vendor figures describe

    def gemm_pflops(cal, prec, n=16384):
        t = gemm_time(chip.peak_flops(prec), chip.hbm_bandwidth_bytes_per_s, cal, prec, float(n), float(n) * n, 2.0 * n,
                      {"fp8": 1.0, "fp4": 0.5}[prec], {"fp8": 1.0, "fp4": 0.5}[prec])[0]
        return 2.0 * n ** 3 / float(t) / 1e15

    def ar_busbw(cal, p=8):
        return 2 * (p - 1) / p * big / allreduce_time(chip, cal, p, big) / 1e9

    def ag_busbw(cal, p=8):
        return (p - 1) / p * big / allgather_time(chip, cal, p, big) / 1e9

    def a2a_bw(cal, p=8):
        return (p - 1) / p * big / alltoall_time(chip, cal, p, big) / 1e9

    def decode(cal):
        """Fraction of the roofline at the smallest batch where the model reaches 2,434 tok/s."""
        for bsz in range(1, 257):
            if qwen_decode_tok_s(cal, bsz) >= 2434.0:
                return qwen_decode_tok_s(cal, bsz) / qwen_decode_tok_s(cal, bsz, ideal=True)
        return np.nan

    items = [
        ("FP8 GEMM, TP=1 (16k x 16k x 16k)", "PFLOP/s", 4.5, "HC26 slide [HC26-sum] (V-M/S)", lambda c: gemm_pflops(c, "fp8")),
        ("FP4 GEMM, TP=1 (16k x 16k x 16k)", "PFLOP/s", 8.6, "HC26 slide [HC26-sum] (V-M/S)", lambda c: gemm_pflops(c, "fp4")),
        ("AllReduce BF16, TP8, bus bandwidth (1 GiB)", "GB/s", 1298.0, "HC26 [HC26-sum] (V-M/S)", ar_busbw),
        ("AllReduce BF16, TP4 (one tray), bus bandwidth", "GB/s", None, "no vendor figure", lambda c: ar_busbw(c, 4)),
        ("AllGather, 8 chips, bus bandwidth (1 GiB)", "GB/s", 0.94 * 1.4e12 / 1e9,
         "94% of the 1.4 TB/s bound ('1.4 TiB/s') [ARX-sum] (V-M/S)", ag_busbw),
        ("AllToAll, TP8, per-chip bandwidth (1 GiB)", "GB/s", 655.0, "HC26 [HC26-sum] (V-M/S)", a2a_bw),
        ("Qwen 2.5 7B decode, 1 chip, 16k ctx, FP8: roofline fraction at 2,434 tok/s", "fraction", 0.70,
         "'>70% of estimated max' [ARX-sum] (V-M/S); batch not stated", decode),
    ]
    rows = []
    for name, unit, meas, src, fn in items:
        vals = np.array([fn(c) for c in (draws if unit != "fraction" else draws[:41])])
        rows.append({"metric": name, "unit": unit, "microsoft": meas, "predicted": vals[0],
                     "p5": np.percentile(vals[1:], 5), "p95": np.percentile(vals[1:], 95),
                     "diff_pct": (100 * (vals[0] - meas) / meas) if meas else np.nan, "source": src})
    batches = [1, 2, 4, 8, 16, 32, 64, 128]
    qrows = []
    for bsz in batches:
        vals = np.array([qwen_decode_tok_s(c, bsz) for c in draws[:61]])
        ideal = qwen_decode_tok_s(nominal, bsz, ideal=True)
        qrows.append({"batch": bsz, "predicted_tok_s": vals[0], "p5": np.percentile(vals[1:], 5),
                      "p95": np.percentile(vals[1:], 95), "roofline_tok_s": ideal, "fraction_of_roofline": vals[0] / ideal})
    return pd.DataFrame(rows), pd.DataFrame(qrows)


def favourable(cal: Calibration) -> Calibration:
    """The calibration at the fast end of every range (fractions high, times and half-sizes low)."""
    changes = {}
    for name, (lo, hi) in cal.ranges.items():
        fast = hi if name.endswith("fraction") else lo
        if name == "gemm_peak_fraction":
            base = cal.gemm_fraction("default")
            changes[name] = {k: min(1.0, v * fast / base) for k, v in cal.gemm_peak_fraction.items()}
        else:
            changes[name] = fast
    return cal.model_copy(update=changes)


def qwen_decode_tok_s(cal: Calibration, batch: int, ctx: int = 16384, prec: str = "fp8", ideal: bool = False) -> float:
    """Decode tokens/s of Qwen 2.5 7B on one Maia 200 with ``batch`` sequences at ``ctx`` tokens of context.

    ``ideal``: pure roofline (every factor 1, no overheads): the kind of 'estimated max' the vendor
    figure is compared against."""
    chip = catalog.chip("maia200")
    if ideal:
        cal = Calibration(chip="ideal", gemm_peak_fraction={"default": 1.0}, gemm_half_tokens=0.0, hbm_fraction=1.0,
                          attention_prefill_fraction=1.0, attention_decode_hbm_fraction=1.0, iteration_overhead_s=0.0,
                          collective_overhead_s=0.0)
    step = StepModel(chip, QWEN25_7B, Precisions(prec, prec, prec), Parallelism(1), cal, max_tokens=max(batch, 1))
    return batch / step.step_time(batch, batch, batch, float(batch * ctx))


# ---- topology: collectives by group size and placement (issue item 3) -----------------------------


def topology_table(message_bytes=(64 * 1024, 16 * 2 ** 20, 256 * 2 ** 20)) -> pd.DataFrame:
    rows = []
    for chip_name in ("maia200", "h100", "gb200", "mi300x", "tpu-v7", "trainium3"):
        chip, cal = catalog.chip(chip_name), catalog.calibration(chip_name)
        for p in (2, 4, 8, 16, 32, 64, 128):
            if p > chip.scale_up[-1].chips:
                continue
            tiers = " > ".join(f"{t.name}x{f}" for t, f in group_fanouts(chip, p))
            for m in message_bytes:
                ar = float(allreduce_time(chip, cal, p, m))
                rows.append({"chip": chip_name, "group": p, "tiers": tiers, "message_bytes": m, "allreduce_s": ar,
                             "allgather_s": float(allgather_time(chip, cal, p, m)),
                             "alltoall_s": float(alltoall_time(chip, cal, p, m)),
                             "allreduce_busbw_gb_s": 2 * (p - 1) / p * m / ar / 1e9})
    return pd.DataFrame(rows)


# ---- summaries and the report ---------------------------------------------------------------------


def summarize(datasets: list[Dataset]) -> pd.DataFrame:
    rows = []
    for ds in datasets:
        r = ds.report
        by = ["phase"] if "phase" in r and ds.group == "splitwise" else []
        for keys, g in (r.groupby(by, sort=False) if by else [((), r)]):
            phase = keys[0] if isinstance(keys, tuple) and keys else (keys if by else "")
            for split in (fit.FIT, fit.HELD_OUT):
                s = g[g.split == split]
                if s.empty:
                    continue
                a = s.error_pct.abs()
                rows.append({"dataset": ds.key, "chip": ds.chip, "group": ds.group, "phase": phase, "split": split,
                             "cases": len(s), "median_abs_pct": a.median(), "p90_abs_pct": a.quantile(0.9),
                             "max_abs_pct": a.max(), "bias_pct": s.error_pct.median()})
    return pd.DataFrame(rows)


def target_rows(summary: pd.DataFrame, datasets: list[Dataset]) -> pd.DataFrame:
    """Held-out medians and p90s against the issue's targets."""
    rows = []
    held = summary[summary.split == fit.HELD_OUT]
    for _, r in held.iterrows():
        key = f"splitwise-{r.phase}" if r.group == "splitwise" else r.group
        if key not in TARGETS:
            continue
        tm, tp = TARGETS[key]
        ok = r.median_abs_pct <= tm and (tp is None or r.p90_abs_pct <= tp)
        rows.append({"dataset": r.dataset, "phase": r.phase, "cases": r.cases, "median_abs_pct": r.median_abs_pct,
                     "p90_abs_pct": r.p90_abs_pct, "target": f"median <= {tm:g}%" + (f", p90 <= {tp:g}%" if tp else ""),
                     "met": "yes" if ok else "NO"})
    # pooled Splitwise held-out rows, per phase (both GPUs)
    sw = pd.concat([d.report for d in datasets if d.group == "splitwise"])
    for phase, g in sw[sw.split == fit.HELD_OUT].groupby("phase", sort=False):
        a = g.error_pct.abs()
        tm, tp = TARGETS[f"splitwise-{phase}"]
        rows.append({"dataset": "splitwise (A100 + H100)", "phase": phase, "cases": len(g), "median_abs_pct": a.median(),
                     "p90_abs_pct": a.quantile(0.9), "target": f"median <= {tm:g}%, p90 <= {tp:g}%",
                     "met": "yes" if a.median() <= tm and a.quantile(0.9) <= tp else "NO"})
    return pd.DataFrame(rows)


def _md_table(df: pd.DataFrame, floatfmt: str = ".1f") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float | np.floating):
                cells.append("" if np.isnan(v) else format(v, floatfmt))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt_params(p: dict[str, float]) -> str:
    return ", ".join(f"`{k}` = {v:.4g}" for k, v in p.items())


def write_plots(datasets: list[Dataset], topo: pd.DataFrame, maia: pd.DataFrame, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    colors = {fit.FIT: "tab:blue", fit.HELD_OUT: "tab:orange"}

    def scatter(ax, rep, title):
        for split, g in rep.groupby("split"):
            ax.scatter(g.measured_s * 1e3, g.predicted_s * 1e3, s=6, alpha=0.5, color=colors[split], label=split)
        lo = min(rep.measured_s.min(), rep.predicted_s.min()) * 1e3
        hi = max(rep.measured_s.max(), rep.predicted_s.max()) * 1e3
        xs = np.array([lo, hi])
        ax.plot(xs, xs, "k-", lw=0.8)
        ax.plot(xs, xs * 1.15, "k:", lw=0.6)
        ax.plot(xs, xs / 1.15, "k:", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("measured (ms)", fontsize=7)
        ax.set_ylabel("predicted (ms)", fontsize=7)
        ax.tick_params(which="both", labelsize=6)
        ax.legend(fontsize=6)

    def save(fig, name):
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files.append(name)

    gem = [d for d in datasets if d.group == "gemm"]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7))
    for ax, d in zip(axes.flat, gem, strict=False):
        scatter(ax, d.report, d.title)
    for ax in list(axes.flat)[len(gem):]:
        ax.axis("off")
    fig.suptitle("GEMM kernels: predicted vs measured (dotted: +-15%)", fontsize=10)
    save(fig, "gemm.png")

    ew = [d for d in datasets if d.group == "elementwise"]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7))
    for ax, d in zip(axes.flat, ew, strict=False):
        scatter(ax, d.report, d.title)
    fig.suptitle("Element-wise kernels (LLMCompass): predicted vs measured (dotted: +-15%)", fontsize=10)
    save(fig, "elementwise.png")

    ar = next(d for d in datasets if d.key == "vidur-allreduce-h100").report
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (w, g), c in zip(ar.groupby("workers"), ("tab:blue", "tab:orange", "tab:green"), strict=False):
        g = g.sort_values("bytes")
        ax.plot(g.bytes, g.measured_s * 1e3, ".", ms=2, color=c, alpha=0.5, label=f"{w} GPUs measured")
        ax.plot(g.bytes, g.predicted_s * 1e3, "-", color=c, label=f"{w} GPUs model ({g.split.iloc[0]})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("message (bytes per GPU)")
    ax.set_ylabel("all-reduce time (ms)")
    ax.set_title("NCCL all-reduce on DGX-H100 (Vidur): alpha-beta model")
    ax.legend(fontsize=7)
    save(fig, "allreduce.png")

    sw = [d for d in datasets if d.group == "splitwise"]
    fig, axes = plt.subplots(len(sw), 2, figsize=(10, 4.2 * len(sw)), squeeze=False)
    for row, d in zip(axes, sw, strict=True):
        for ax, phase in zip(row, ("prefill", "decode"), strict=True):
            scatter(ax, d.report[d.report.phase == phase], f"{d.chip.upper()} {phase} (Splitwise)")
    save(fig, "splitwise.png")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    big = topo[topo.message_bytes == topo.message_bytes.max()]
    for chip, g in big.groupby("chip", sort=False):
        ax.plot(g.group, g.allreduce_busbw_gb_s, "o-", label=chip)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("all-reduce group size (chips, placed contiguously)")
    ax.set_ylabel(f"bus bandwidth (GB/s) at {big.message_bytes.iloc[0] // 2 ** 20} MiB")
    ax.set_title("All-reduce bus bandwidth by group size: tiers show as steps")
    ax.legend(fontsize=7)
    save(fig, "topology.png")

    m = maia.dropna(subset=["microsoft"])
    fig, ax = plt.subplots(figsize=(11, 4))
    y = np.arange(len(m))
    ratio = m.predicted / m.microsoft
    ax.barh(y, ratio, xerr=[ratio - m.p5 / m.microsoft, m.p95 / m.microsoft - ratio], color="tab:blue", alpha=0.7)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(y, list(m.metric), fontsize=7)
    ax.set_xlabel("maiasim prediction / Microsoft measurement (bars: p5-p95 over calibration ranges)")
    ax.set_title("Maia 200: model vs vendor-measured figures (HARDWARE_FACTS §1b)", fontsize=9)
    save(fig, "maia200.png")
    return files


def run(out: Path = OUT, docs: Path = DOCS, quiet: bool = False) -> dict:
    d = data_dir()
    if not (d / "splitwise_sim" / "perf_model.csv").is_file():
        raise FileNotFoundError(f"calibration data not found at {d} (set MAIASIM_CALIBRATION_DATA)")
    t0 = time.time()
    out.mkdir(parents=True, exist_ok=True)
    datasets, cals = gemm_datasets(d)
    coll, cal_ar = collective_datasets(d, cals["h100"])
    datasets += coll
    # Splitwise: start from the shipped calibration (kernel-level factors), fit only the stack factors
    sw_cals = {}
    for chip, hw in (("a100", "a100-80gb"), ("h100", "h100-80gb")):
        ds, cal = splitwise_dataset(d, chip, hw, catalog.calibration(chip))
        datasets.append(ds)
        sw_cals[chip] = cal
        header = (f"Splitwise 2023 serving-stack profile of the {chip.upper()}, written by `python -m maiasim.validation`.\n"
                  f"Kernel factors from catalog/calibration/{chip}.yaml; stack factors fitted to the Splitwise fit split.\n"
                  f"Use in a scenario as hardware.calibration: {{...}} to model that stack.")
        (out / f"calibration_{chip}_splitwise.yaml").write_text(fit.calibration_yaml(cal, header), encoding="utf-8")
    ew, ew_cals = elementwise_datasets(d, cals)
    datasets += ew
    datasets.append(transformer_layer_dataset(d, catalog.calibration("a100"),
                                              {op: c for (chip, op), c in ew_cals.items() if chip == "a100"}))
    for ds in datasets:
        ds.report.to_csv(out / f"{ds.key}.csv", index=False)
        if ds.excluded is not None and len(ds.excluded):
            ds.excluded.to_csv(out / f"{ds.key}-excluded.csv", index=False)
    summary = summarize(datasets)
    summary.to_csv(out / "summary.csv", index=False)
    targets = target_rows(summary, datasets)
    maia, qwen = maia200_comparison()
    maia.to_csv(out / "maia200.csv", index=False)
    qwen.to_csv(out / "maia200-qwen25-7b-decode.csv", index=False)
    topo = topology_table()
    topo.to_csv(out / "topology.csv", index=False)
    plots = write_plots(datasets, topo, maia, out)
    drift = shipped_drift(cals, cal_ar)
    text = render(datasets, summary, targets, maia, qwen, topo, drift, sw_cals, plots, time.time() - t0)
    (docs / "validation.md").write_text(text, encoding="utf-8")
    res = {"summary": summary, "targets": targets, "maia200": maia, "qwen": qwen, "datasets": datasets}
    if not quiet:
        print_headline(summary, targets, maia, time.time() - t0)
    return res


def shipped_drift(cals: dict[str, Calibration], cal_ar: Calibration) -> pd.DataFrame:
    """Fitted values now vs the values shipped in catalog/calibration (a re-fit should not drift)."""
    rows = []
    checks = [("h100", cals["h100"], ("gemm_peak_fraction.bf16", "gemm_half_tokens", "hbm_fraction", "gemm_latency_s")),
              ("h100", cal_ar, ("allreduce_fraction", "collective_overhead_s")),
              ("a100", cals["a100"], ("gemm_peak_fraction.bf16", "gemm_half_tokens", "hbm_fraction", "gemm_latency_s"))]
    for chip, cal, names in checks:
        shipped = catalog.calibration(chip)
        for n in names:
            a, b = fit.get_param(cal, n), fit.get_param(shipped, n)
            rows.append({"chip": chip, "factor": n, "fitted_now": a, "shipped": b, "diff_pct": 100 * (b - a) / a})
    return pd.DataFrame(rows)


def print_headline(summary: pd.DataFrame, targets: pd.DataFrame, maia: pd.DataFrame, elapsed: float) -> None:
    print("maiasim validation: absolute percentage error, median / p90 (cases), fitted vs held-out")
    for (ds, phase), g in summary.groupby(["dataset", "phase"], sort=False):
        parts = []
        for split in (fit.FIT, fit.HELD_OUT):
            s = g[g.split == split]
            if len(s):
                r = s.iloc[0]
                parts.append(f"{split:>8}: {r.median_abs_pct:5.1f}% / {r.p90_abs_pct:5.1f}% ({int(r.cases)})")
            else:
                parts.append(f"{split:>8}: {'-':>17}")
        name = ds + (f" [{phase}]" if phase else "")
        print(f"  {name:<40} " + "   ".join(parts))
    print("targets (held-out):")
    for _, r in targets.iterrows():
        name = r.dataset + (f" [{r.phase}]" if r.phase else "")
        print(f"  {name:<40} median {r.median_abs_pct:5.1f}%  p90 {r.p90_abs_pct:5.1f}%  ({r.target}): {r.met}")
    print("Maia 200 vs Microsoft (HARDWARE_FACTS §1b):")
    for _, r in maia.dropna(subset=["microsoft"]).iterrows():
        print(f"  {r.metric:<76} model {r.predicted:7.4g} vs {r.microsoft:7.4g} {r.unit} ({r.diff_pct:+.0f}%)")
    print(f"wrote docs/validation.md and docs/validation/ in {elapsed:.0f} s")


def render(datasets, summary, targets, maia, qwen, topo, drift, sw_cals, plots, elapsed) -> str:
    L = []
    L.append("<!-- Generated by `python -m maiasim.validation` (make validate). Do not edit by hand. -->")
    L.append("# Validation: how close maiasim's physics is to measured hardware\n")
    L.append("Every number below is regenerated by `make validate` (`python -m maiasim.validation`, "
             f"{'under a minute' if elapsed < 60 else 'a few minutes'} on 2 cores) from the public measurements in `shared/data/calibration/` "
             "(see its README). Each dataset is split deterministically: factors are **fitted** on one part and "
             "the model is **checked on the rest (held out)**. Errors are absolute percentage errors of predicted "
             "vs measured time per case; full per-case tables are the CSVs in [`docs/validation/`](validation/). "
             "How calibration works and how to refit is in [calibration.md](calibration.md).\n")
    L.append("## Headline\n")
    L.append(_md_table(targets.rename(columns={"median_abs_pct": "median |err| %", "p90_abs_pct": "p90 |err| %"})))
    L.append("")
    L.append("## All datasets, fitted and held out\n")
    s = summary.copy()
    s = s[["dataset", "chip", "phase", "split", "cases", "median_abs_pct", "p90_abs_pct", "max_abs_pct", "bias_pct"]]
    L.append(_md_table(s.rename(columns={"median_abs_pct": "median |err| %", "p90_abs_pct": "p90 |err| %",
                                         "max_abs_pct": "max |err| %", "bias_pct": "median err % (bias)"})))
    L.append("\n`bias` is the signed median error: positive means the model predicts slower than measured.\n")
    for d in datasets:
        L.append(f"### {d.title}\n")
        L.append(f"- data: {d.source}; chip `{d.chip}`; {len(d.report)} cases ([CSV](validation/{d.key}.csv))")
        L.append(f"- split: {d.split_rule}")
        if d.fitted:
            L.append(f"- fitted: {_fmt_params(d.fitted)}")
        if d.excluded is not None and len(d.excluded):
            ex = d.excluded.groupby(["model", "tp", "prompt", "batch"]).excluded.first().reset_index()
            for _, r in ex.iterrows():
                L.append(f"- excluded {r.model} TP{r.tp} prompt {r.prompt} batch {r.batch} (both phases): {r.excluded}")
        for n in d.notes:
            L.append(f"- note: {n}")
        L.append("")
    L.append(MISSES_TEXT)
    # per-group detail for Splitwise
    L.append("### Splitwise errors by model and tensor parallelism (held out)\n")
    sw = pd.concat([d.report.assign(chip=d.chip) for d in datasets if d.group == "splitwise"])
    g = sw[sw.split == fit.HELD_OUT].assign(a=lambda x: x.error_pct.abs()).groupby(["chip", "phase", "model", "tp"]).agg(
        cases=("a", "size"), median=("a", "median"), p90=("a", lambda x: x.quantile(0.9)), bias=("error_pct", "median"))
    L.append(_md_table(g.reset_index().rename(columns={"median": "median |err| %", "p90": "p90 |err| %", "bias": "bias %"})))
    L.append("")
    L.append("### The Splitwise serving-stack profiles\n")
    L.append("Fitted on the Splitwise fit split, on top of the shipped kernel-level calibration; written to "
             "`docs/validation/calibration_<chip>_splitwise.yaml`. They describe a 2023 vLLM-era stack (no CUDA graphs, "
             "NCCL without custom all-reduce) and are **not** the shipped defaults:\n")
    rows = []
    for chip, cal in sw_cals.items():
        for k in SPLITWISE_STACK_FACTORS:
            rows.append({"chip": chip, "factor": k, "splitwise stack": fit.get_param(cal, k),
                         "shipped default": fit.get_param(catalog.calibration(chip), k)})
    L.append(_md_table(pd.DataFrame(rows), ".4g"))
    L.append("")
    L.append("### Shipped calibration vs a fresh fit\n")
    L.append("The kernel-level factors in `maiasim/catalog/calibration/{h100,a100}.yaml` were produced by the same fits "
             "(rounded); a change in the data or the physics that moves a fitted factor shows here:\n")
    L.append(_md_table(drift, ".4g"))
    L.append("")
    L.append("## Maia 200 against what Microsoft measured (HARDWARE_FACTS §1b)\n")
    L.append("Maia 200 has no public measurements other than Microsoft's own (§1b, tagged V-M/S: vendor-measured, seen "
             "via secondary summaries). Its calibration (`catalog/calibration/maia200.yaml`) takes those factors and a "
             "range for each; the table runs the model's physics on the cases the vendor figures describe. "
             "`p5`/`p95` are over 200 draws of the calibration ranges.\n")
    L.append(_md_table(maia[["metric", "unit", "microsoft", "predicted", "p5", "p95", "diff_pct", "source"]].rename(
        columns={"diff_pct": "model vs Microsoft %"}), ".3g"))
    L.append("")
    L.append(MAIA_TEXT)
    L.append("Qwen 2.5 7B decode on one Maia 200 at 16,384 tokens of context (FP8 weights and KV cache), by batch; "
             "`roofline` is the same step with every efficiency 1 and no overheads:\n")
    L.append(_md_table(qwen, ".4g"))
    L.append("")
    fav = favourable(catalog.calibration("maia200"))
    for bsz in range(1, 257):
        if qwen_decode_tok_s(fav, bsz) >= 2434.0:
            L.append(f"At the favourable end of every Maia 200 range the model reaches 2,434 tok/s at batch {bsz}, "
                     f"at {qwen_decode_tok_s(fav, bsz) / qwen_decode_tok_s(fav, bsz, ideal=True):.0%} of the roofline.\n")
            break
    hit = qwen[qwen.predicted_tok_s >= 2434.0]
    if len(hit):
        L.append(f"The model reaches the measured 2,434 tok/s from batch {int(hit.batch.iloc[0])} on (nominal "
                 f"calibration); there it runs at {hit.fraction_of_roofline.iloc[0]:.0%} of the roofline, against "
                 "Microsoft's '>70% of estimated max'. Microsoft does not say which batch or precision it used, so this "
                 "is a consistency check, not a validation.\n")
    else:
        L.append("The model does not reach 2,434 tok/s at any batch up to 128 with the nominal calibration.\n")
    L.append("## Collectives by group size and placement\n")
    L.append("Groups are placed contiguously, so a Maia 200 TP group of up to 4 stays in its tray (direct links, "
             "1.0 TB/s per chip per direction) and 8 spans two trays; the switched T0 tier (0.4 TB/s) is pooled with the "
             "tray links (the same 28 Ethernet ports), so up to 48 chips an all-reduce uses both at once (1.4 TB/s) and "
             "only the cross-tray share of the data is held to the T0 ports; beyond 48 it crosses the 1:3 "
             "oversubscribed T1 tier, after the pool. A full mesh splits a chip's bandwidth over its direct links: a "
             "pair uses one (MI300X TP2: one 64 GB/s Infinity Fabric link). GPUs stay inside their NVLink domain (8, or "
             "72 on GB200) and pay InfiniBand beyond it, tier after tier (16 H100s keep ~65% of the 8-GPU bus "
             "bandwidth; HARDWARE_FACTS §5 measured 69% for 4 x 8 H100). TPU v7 and Trainium3 have one tier (torus / "
             "switched NeuronLink) up to their pod size. All-reduce bus bandwidth (GB/s) at 256 MiB by group size:\n")
    big = topo[topo.message_bytes == topo.message_bytes.max()]
    piv = big.pivot_table(index="group", columns="chip", values="allreduce_busbw_gb_s")
    L.append(_md_table(piv.reset_index(), ".0f"))
    L.append("\nTiers a group crosses (Maia 200): " + "; ".join(
        f"{int(r.group)}: {r.tiers}" for _, r in big[big.chip == "maia200"].drop_duplicates("group").iterrows()))
    L.append("\nFull table (all-reduce, all-gather, all-to-all at 64 KiB, 16 MiB, 256 MiB): "
             "[topology.csv](validation/topology.csv). Tested in `tests/test_calibration.py`.\n")
    L.append("## Plots\n")
    for p in plots:
        L.append(f"![{p}](validation/{p})\n")
    return "\n".join(L) + "\n"


MISSES_TEXT = """## Where the model misses, and why

- **Splitwise: what the serving-stack factors capture, and what remains.** With kernel-level (Vidur) factors
  alone, the per-operator roofline misses these 2023 measurements by 10-30%. Five things the stack adds are
  calibration factors, fitted on the fit split only:
  (1) a *host floor* for steps with prompt tokens: up to 512 tokens a prefill is flat at 48-58 ms whatever
  the TP (`prefill_layer_launch_s`, 0.64 ms per layer on H100, 0.77 ms on A100);
  (2) *collective latency that grows with the group*: batch-1 decode of Llama-2-70B on H100 takes 37.2, 29.5
  and 30.5 ms at TP2, 4 and 8, although the weights each GPU reads halve every time, and BLOOM-176B (70 layers)
  at TP8 takes 36 ms. Two all-reduces per layer at 63-65 us plus 8.6 us per extra rank
  (`collective_overhead_s`, `collective_rank_latency_s`), with the weights over HBM and the host floor, explain
  all four: an eager stack's all-reduce waits for the slowest rank to reach it. Vidur's NCCL profiles of the same DGX-H100 show 20-40 us for every group
  size, so the growth is the stack's, not NCCL's. With it, held-out H100 decode went from 5.7% to 1.2%;
  (3) a *per-token host cost* outside the GPU's shadow (`per_token_overhead_s`, 5.4 us H100, 20 us A100): the
  measured time above the GEMM time grows by about 40 ms per 1,000 prompt tokens at TP2, 4 and 8 alike, so it
  is not sharded GPU work;
  (4) a *large-batch regime switch* in all-reduce cost: doubling the batch from 2,048 to 4,096 tokens multiplies
  the time by 2.0x at TP2, 2.3x at TP4 and 2.8x at TP8 (H100, 512-token prompts), the same for one prompt or
  many (so not attention), and absent from Vidur's GEMM and NCCL profiles (bus bandwidth rises to 340 GB/s at
  64 MiB). It is a logistic in log batch tokens (`allreduce_knee_tokens` 3,900 / 5,000; all-reduces cost
  4.9x / 8.3x beyond it, H100 / A100). The fit split samples batch tokens at factors of four (512, 2,048, 8,192), so a switch
  sharper than that cannot be located by it: with a free width the fit collapsed to a step placed anywhere
  between 2,048 and 8,192 (A100 held-out prefill then 5.9% / 18.9%). The width is bounded below at
  ln(4)/4 = 0.35 (`allreduce_knee_width`), and both fits sit on that bound;
  (5) a host cost per sampled sequence (`per_sequence_overhead_s`, 0.29 / 0.39 ms), prompt or decode.
  What remains: on A100 at TP2/TP4 a batch of 512-token prompts takes 20-40% longer than one prompt of the
  same total length (571 vs 403 ms at 2,048 tokens, TP4), which no token-count model can follow (H100 shows
  no such gap); those rows make most of the A100 fit-split prefill error (7.9% median, 20.6% p90). The
  structure was chosen among variants (knee shapes, hard and soft floors, per-token costs inside and outside
  the GPU's shadow) by fit-split loss and physical sense, but held-out errors were looked at along the way,
  so they are not fully blind. The factors describe one 2023 stack and are not the shipped defaults.
- **Splitwise `h100-80gb-pcap` rows are not used**: their `prompt_time` is exactly 1.300 x the `h100-80gb` value on
  all 420 rows and every other column is identical, i.e. derived, not measured.
- **TP2 batch-64 runs are excluded** (A100 and H100): the prefill time falls 8x below batch 32 and the end-to-end
  time is 9-17x longer, so the run did not hold 64 sequences at once (64 x 640 tokens of KV cache does not fit
  beside 69 GB of FP16 weights per GPU).
- **LLMCompass A100 matmuls vs the Vidur-fitted A100** (24.7% median, a miss of the 10% GEMM target): LLMCompass's
  large GEMMs reach 90-94% of the 312 TFLOPS peak, Vidur's A100 profiles plateau at 75%, and LLMCompass's harness
  has a ~30 us floor where Vidur's kernel timings have ~11 us. The two measurements of the "same" GPU differ by
  ~25%; fitted on itself (the `-selffit` row) the model's shape error on this sweep is 2.7%. A calibration is
  only as transferable as the measurement setup is comparable.
- **GPT-3 layer (LLMCompass, A100 TP4)**: the GEMMs are 17-22% slow for the same reason as above; prefill
  attention is 77% fast because LLMCompass ran unfused attention (QK^T, softmax, AV as separate kernels through
  HBM) while the shipped calibration assumes a fused FlashAttention-class kernel. The norms and GeLU, predicted
  with the element-wise factors fitted to LLMCompass's own LayerNorm and GeLU sweeps, are within 2-7% in both
  phases (before those factors: +65% in prefill, and -99% at decode, where each kernel is a ~48 us launch floor).
- **Element-wise kernels (LLMCompass GeLU, LayerNorm, Softmax)**: a kernel is its latency plus one read and one
  write of every value at a fitted fraction of HBM bandwidth. Per operator, held-out medians are 1-12%; one
  fraction and latency for all three would miss by ~25%, because the floors differ by operator (A100: ~46 us
  for the torch.compile'd GeLU and LayerNorm, 13 us for eager Softmax) and so does the bandwidth reached
  (GeLU 84% of A100 HBM, LayerNorm 69%, Softmax 48% counting one read and one write). LayerNorm is the worst
  (12% A100, 8.5% MI210 held out): its throughput drops once the normalised row passes 8,192 values. These
  factors describe LLMCompass's harness (each op timed through PyTorch), so they are used for its GPT-3 layer
  and are not shipped: a serving step fuses or graph-replays these kernels, and its element-wise traffic
  runs at the chip's `hbm_fraction` unless a calibration sets `elementwise_fraction` and `elementwise_latency_s`.
- **Small all-reduces** (below ~1 MB) carry the largest relative errors: NCCL's latency on DGX-H100 is 7-40 us
  and bimodal for 2 GPUs; one fitted overhead per call cannot follow it. The 4-GPU held-out median is within target.
- **Send/recv** is predicted from link bandwidth with no fitted efficiency; the errors in its table are what an
  unfitted pipeline-parallel send looks like (informational, no target).
- **GEMM shapes**: the efficiency curve depends only on the token count, so wave-quantisation effects of
  particular N x K shapes (up to +-40% on single rows, mostly mid-size TP8 shards) are not modelled.
"""

MAIA_TEXT = """Reading the table:

- **GEMM**: the FP8 and FP4 plateaus are Microsoft's figures, so agreement is by construction; what the model adds
  is the shape curve (how small GEMMs lose efficiency), for which no Maia 200 data exist (generic default, wide range).
- **AllReduce / AllGather / AllToAll at 8 chips**: Maia 200's tray links (20 ports, 1.0 TB/s per chip) and its
  switched ports (8, 0.4 TB/s) are the same 28 on-die 400G Ethernet NICs, and the T0 switch reaches the tray
  peers too. Run one tier after the other, a TP8 all-reduce tops out at about 0.82 TB/s even at 100% link
  efficiency: 41% below Microsoft's 1,298 GB/s, with AllGather 47% and AllToAll 50% off (the previous
  report). With the ports pooled (`pooled: true` on the T0 tier in `catalog/chips.yaml`) all three figures
  follow from the topology with one efficiency of 93-94%: all-reduce and all-gather are bounded by the whole
  1.4 TB/s (the quarter of the data that crosses trays fits the 0.4 TB/s tier), all-to-all by the half of its
  data that must cross the 0.4 TB/s tier (0.7 TB/s per chip; 655 GB/s is 94% of that). The earlier
  calibration took the vendor's "47% of 1.4 TB/s" as the all-to-all efficiency and so counted the topology
  twice. Pooling is inferred from these three secondary-source figures (HARDWARE_FACTS §6 items 18-19), not
  measured; in the model a TP4 group then also gets 1.3 TB/s (tray links plus switched ports; no vendor
  figure), and a TP2 pair its one direct tray link (a third of 1.0 TB/s) plus the switched ports. The AllGather
  bound is quoted as "1.4 TiB/s"; it is the 28 x 400G = 1.4 TB/s NIC budget, so the table reads it as TB/s
  (read literally it would be 1,447 GB/s, 10% above the model).
- **Decode**: Microsoft's 2,434 tok/s for Qwen 2.5 7B at 16k context comes with '>70% of estimated max' but no
  batch size. With the nominal calibration (HBM streaming at the 56% of the memory-bound matmul benchmark, a
  generic 2 ms per step) the model reaches 2,434 tok/s at a modest batch while running at about a third of the
  pure roofline; at the favourable end of every range it reaches the fraction given below. Either 'estimated max'
  is well below the HBM roofline, or Maia 200 streams decode data far better than its matmul micro-benchmark
  suggests. The two vendor figures disagree by up to 2x for memory-bound work; quote Maia 200 decode with
  uncertainty bands (`simulate(..., uncertainty=N)`).
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m maiasim.validation", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(OUT), help="folder for CSVs, plots and fitted profiles (default docs/validation)")
    p.add_argument("--docs", default=str(DOCS), help="folder for validation.md (default docs)")
    args = p.parse_args(argv)
    try:
        run(Path(args.out), Path(args.docs))
    except FileNotFoundError as e:
        print(f"maiasim validation: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
