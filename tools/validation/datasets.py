"""The report's datasets: read each public measurement, fit on its fit split, predict every row.

What each dataset is (file, chip, split, notes) is data, in ``data/datasets.yaml``; this module is
the procedure. Every prediction goes through the simulator's own functions
(:func:`maiasim.physics.gemm_time`, :mod:`maiasim.physics.network`,
:class:`maiasim.physics.StepModel`) via :mod:`maiasim.calibrate`, so an error here is an error of
the simulator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from maiasim import catalog
from maiasim.calibrate import fit, readers
from maiasim.calibrate.parameters import get_param, param_names
from maiasim.physics import (
    Parallelism,
    Precisions,
    StepModel,
    elementwise_kernels,
    elementwise_time,
)
from maiasim.physics.network import allreduce_time
from maiasim.spec.calibration import Calibration

from .common import Dataset, chip_spec, config, model


def _fitted(cal: Calibration, names) -> dict[str, float]:
    return {n: get_param(cal, n) for n in names}


def _start(chip: str) -> Calibration:
    """The calibration a fit starts from: the chip's shipped one, generic defaults without one."""
    return catalog.calibration(chip) if chip in catalog.chips() else Calibration(chip=chip)


def gemm_datasets(d: Path) -> tuple[list[Dataset], dict[str, Calibration]]:
    """The GEMM datasets, and each chip's kernel-level calibration fitted on them (by chip)."""
    cfg = config("datasets")
    rules = cfg["split_rules"]
    out, by_key, cals = [], {}, {}
    for e in cfg["gemm"]:
        spec, kind = chip_spec(e["chip"]), e["kind"]
        path = d / e["file"]
        cases = readers.read_cases(kind, path)
        if "predict_with" in e:
            cal = by_key[e["predict_with"]]
            rep = fit.report(cases.assign(split=fit.HELD_OUT), fit.predict(kind, spec, cal, cases))
            fitted, rule = {}, rules["predicted"]
        else:
            cal, rep = fit.fit_calibration(spec, kind, path, base=_start(e["chip"]), cases=cases)
            fitted, rule = _fitted(cal, param_names(kind)), rules[kind]
        by_key[e["key"]] = cal
        if e.get("kernel_calibration"):
            cals[e["chip"]] = cal
        out.append(Dataset(e["key"], e["title"], "gemm", e["chip"], e["source"], rule, rep, fitted,
                           list(e.get("notes", []))))
    return out, cals


def collective_datasets(d: Path, base: Calibration) -> tuple[list[Dataset], Calibration]:
    """NCCL all-reduce (fitted on top of ``base``, the H100 GEMM fit) and send/recv (predicted)."""
    cfg = config("datasets")
    a, s = cfg["allreduce"], cfg["sendrecv"]
    spec = catalog.chip(a["chip"])
    cal, rep = fit.fit_calibration(spec, "allreduce", d / a["file"], base=base)
    ar = Dataset(a["key"], a["title"], "allreduce", a["chip"], a["source"], a["split"], rep,
                 _fitted(cal, param_names("allreduce")), list(a["notes"]))
    sr_cases = readers.read_vidur_collective(d / s["file"])
    sr = fit.report(sr_cases.assign(split=fit.HELD_OUT),
                    fit.predict_collective(spec, cal, sr_cases))
    sr_ds = Dataset(s["key"], s["title"], "sendrecv", s["chip"], s["source"], s["split"], sr,
                    notes=list(s["notes"]))
    return [ar, sr_ds], cal


def elementwise_datasets(d: Path, cals: dict[str, Calibration]
                         ) -> tuple[list[Dataset], dict[tuple[str, str], Calibration]]:
    """LLMCompass GeLU / LayerNorm / Softmax sweeps on A100 (FP16) and MI210 (FP32): one
    element-wise bandwidth fraction and per-kernel latency fitted per operator, on top of each
    chip's GEMM calibration. Returns the datasets and the fits by (chip, operator)."""
    cfg = config("datasets")["elementwise"]
    rule = config("datasets")["split_rules"]["elementwise"]
    out, fitted = [], {}
    for c in cfg["chips"]:
        chip, nbytes = c["chip"], c["element_bytes"]
        for op, name in cfg["ops"].items():
            path = d / "llmcompass_real_hardware" / f"{op}_{c['suffix']}.csv"
            cases = readers.read_llmcompass_elementwise(path, nbytes)
            cal, rep = fit.fit_calibration(chip_spec(chip), "elementwise", path, base=cals[chip],
                                           cases=cases)
            fitted[(chip, op)] = cal.model_copy(update={"chip": chip})
            notes = [c["note"]] + ([cfg["op_notes"][op]] if op in cfg["op_notes"] else [])
            source = cfg["source"].format(precision="FP16" if nbytes == 2 else "FP32")
            title = f"LLMCompass {name} sweep, {chip.upper()}"
            out.append(Dataset(f"llmcompass-{op}-{chip}", title, "elementwise", chip, source,
                               rule, rep, _fitted(cal, param_names("elementwise")), notes))
    return out, fitted


def splitwise_dataset(d: Path, chip: str, hardware: str,
                      base: Calibration) -> tuple[Dataset, Calibration]:
    """Splitwise iteration times of one GPU: the serving-stack factors fitted on top of ``base``.

    Two stages: the stack factors without the prefill floor and the all-reduce knee first (they
    set the overheads and latencies), then all of them from there, the knee starting where the
    measured per-token prefill cost turns. One stage from the shipped defaults settles in a worse
    basin (A100 fit-split loss 0.48 against 0.37)."""
    cfg = config("datasets")["splitwise"]
    path = d / cfg["file"]
    allrows = readers.read_splitwise(path, hardware)
    cases = allrows[allrows.excluded == ""].reset_index(drop=True)
    params = tuple(cfg["stack_factors"])
    later = {"prefill_layer_launch_s", *cfg["second_stage"]}
    first = [p for p in params if p not in later]
    cal, _ = fit.fit_calibration(chip, "iteration", path, base=base, params=first, cases=cases)
    start = cal.model_copy(update={"prefill_layer_launch_s": cal.layer_launch_s,
                                   **cfg["second_stage"]})
    cal, rep = fit.fit_calibration(chip, "iteration", path, base=start, params=params, cases=cases)
    rule = (f"held out prompt sizes {fit.SPLITWISE_HELD_OUT_PROMPTS}, batch sizes "
            f"{fit.SPLITWISE_HELD_OUT_BATCHES} and output lengths {fit.SPLITWISE_HELD_OUT_TOKENS}; "
            "fit on the rest (every TP and both models appear in both parts)")
    return Dataset(f"splitwise-{chip}", cfg["title"].format(CHIP=chip.upper()), "splitwise", chip,
                   cfg["source"], rule, rep, _fitted(cal, params), list(cfg["notes"]),
                   allrows[allrows.excluded != ""]), cal


def splitwise_stack_factors() -> tuple[str, ...]:
    """The serving-stack factors the Splitwise fits change (kernel factors stay at Vidur's)."""
    return tuple(config("datasets")["splitwise"]["stack_factors"])


def transformer_layer_dataset(d: Path, cal: Calibration,
                              elementwise: dict[str, Calibration]) -> Dataset:
    """LLMCompass GPT-3 layer on 4 x A100 (TP4): 12 per-operator latencies, prefill and decode.

    ``elementwise`` holds the A100 calibrations fitted to LLMCompass's own LayerNorm and GeLU
    sweeps, which predict the layer's norm and GeLU kernels (same harness)."""
    cfg = config("datasets")["gpt3_layer"]
    chip = catalog.chip("a100")
    tp, b, s, gen = cfg["tensor_parallel"], cfg["batch"], cfg["prompt"], cfg["generated"]
    m = model("gpt3-175b-layer")
    step = StepModel(chip, m, Precisions("bf16", "bf16", "bf16"), Parallelism(tp), cal,
                     max_tokens=1)
    h = m.hidden_size
    kernels = {name: elements for name, elements, _ in elementwise_kernels(m, tp)}

    def norms_and_gelu(T):  # two LayerNorms and a GeLU, each read once and written once
        ln, gelu = elementwise["layernorm"], elementwise["gelu"]
        bw = chip.hbm_bandwidth_bytes_per_s
        return float(2 * elementwise_time(bw, ln, T * kernels["norm"], 2, 2.0)
                     + elementwise_time(bw, gelu, T * kernels["activation"], 2, 2.0))

    rows = []
    for phase, T in (("prefill", b * s), ("decode", b)):
        meas = dict(zip(cfg["operators"], np.loadtxt(d / cfg["files"][phase]), strict=True))
        ops = step.token_ops(np.array([float(T)]))
        if phase == "prefill":
            attn = step.prefill_attention(s, 0)[0] * b
        else:
            attn = step.decode_s_per_ctx * b * (s + gen)
        allreduces = float(2 * allreduce_time(chip, cal, tp, T * h * 2.0))
        groups = {
            "QKV GEMM": (["Q_K_V"], float(ops["qkv_proj"][0][0])),
            "O GEMM": (["Wo_proj"], float(ops["o_proj"][0][0])),
            "MLP GEMMs (W1+W2)": (["W1_proj", "W2_proj"], float(ops["mlp"][0][0])),
            "attention (QK, softmax, AV)": (["Q_mul_K", "A_mul_V", "Softmax"], float(attn)),
            "norms + GeLU": (["LayerNorm_MHA", "LayerNorm_FFN", "GeLU"], norms_and_gelu(T)),
            "all-reduces (2)": (["AllReduce_MHA", "AllReduce_FFN"], allreduces),
        }
        for g, (parts, pred) in groups.items():
            rows.append({"phase": phase, "op": g, "tokens": T,
                         "measured_s": sum(meas[p] for p in parts), "predicted_s": pred,
                         "split": fit.HELD_OUT})
    rep = pd.DataFrame(rows)
    rep["error_pct"] = 100 * (rep.predicted_s - rep.measured_s) / rep.measured_s
    return Dataset(cfg["key"], cfg["title"], "layer", "a100", cfg["source"], cfg["split"], rep,
                   notes=list(cfg["notes"]))
