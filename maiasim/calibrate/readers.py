"""Readers for the public measurement formats a calibration is fitted to.

Each reader turns one CSV format into a frame with one row per measured case: the shape of the
work (GEMM ``M``, ``K``, ``N``; message ``bytes``; element count; prompt, batch and output
lengths) and ``measured_s``, the measured time in seconds. The formats are those of the projects
that published the measurements (Vidur, Splitwise, LLMCompass); their quirks (units, sharded
shapes, runs that did not hold their batch) are handled here, once, so a fit and a report see the
same cases.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .parameters import KINDS

#: Splitwise names -> catalog names
SPLITWISE_MODELS = {"llama2-70b": "llama-2-70b", "bloom-176b": "bloom-176b"}
SPLITWISE_HARDWARE = {"a100-80gb": "a100", "h100-80gb": "h100", "h100-80gb-pcap": "h100"}

#: The GEMM operators of a Vidur ``mlp.csv`` profile (the other columns are not GEMMs).
VIDUR_GEMM_OPS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")


def read_vidur_gemm(path: str | Path) -> pd.DataFrame:
    """Vidur ``mlp.csv`` -> one row per (GEMM op, tokens, TP): shapes M x K x N and the median time.

    Vidur profiles each operator with its tensor-parallel shard on one GPU, so the shapes follow
    from the profile's own model columns (``n_embd``, ``n_expanded_embd``, heads, gated MLP)."""
    d = pd.read_csv(path)
    rows = []
    for _, r in d.iterrows():
        h, f, tp = int(r.n_embd), int(r.n_expanded_embd), int(r.num_tensor_parallel_workers)
        nh, nkv = int(r.n_head), int(r.n_kv_head)
        hd = h // nh
        gated = bool(r.use_gated_mlp)
        shapes = {
            "attn_pre_proj": (h, (nh // tp + 2 * math.ceil(nkv / tp)) * hd),
            "attn_post_proj": (nh // tp * hd, h),
            "mlp_up_proj": (h, (2 if gated else 1) * f // tp),
            "mlp_down_proj": (f // tp, h),
        }
        for op, (k, n) in shapes.items():
            rows.append({"op": op, "tokens": int(r.num_tokens), "tp": tp, "M": int(r.num_tokens),
                         "K": k, "N": n, "measured_s": float(r[f"time_stats.{op}.median"]) * 1e-3})
    return pd.DataFrame(rows).drop_duplicates(["op", "tokens", "tp"]).reset_index(drop=True)


def read_llmcompass_matmul(path: str | Path) -> pd.DataFrame:
    """LLMCompass ``M, N, K, 0.19ms, 101.7Tflops`` rows (A[M,K] x B[K,N], FP16)."""
    d = pd.read_csv(path, header=None, names=["M", "N", "K", "latency", "tflops"],
                    skipinitialspace=True)
    lat = d["latency"].astype(str).str.strip().str.removesuffix("ms").astype(float) * 1e-3
    return pd.DataFrame({"op": "matmul", "M": d.M.astype(int), "K": d.K.astype(int),
                         "N": d.N.astype(int), "tokens": d.M.astype(int), "measured_s": lat})


def read_llmcompass_elementwise(path: str | Path, element_bytes: float = 2.0) -> pd.DataFrame:
    """LLMCompass element-wise sweeps: ``elements, G elements/s`` (GeLU) or ``M, N, G elements/s``
    (Softmax, LayerNorm over rows of N) -> one row per size with the measured seconds.

    The operator is named by the file (``gelu_A100.csv`` -> gelu). ``element_bytes``: 2 for FP16
    (LLMCompass's NVIDIA runs), 4 for FP32 (its MI210 runs of these operators)."""
    d = pd.read_csv(path, header=None, skipinitialspace=True)
    if d.shape[1] not in (2, 3):
        raise ValueError(f"{path}: expected 2 (elements, G/s) or 3 (M, N, G/s) columns, "
                         f"got {d.shape[1]}")
    M = d[0].astype(int)
    N = d[1].astype(int) if d.shape[1] == 3 else pd.Series(1, index=d.index)
    elements = (M * N).astype(float)
    return pd.DataFrame({"op": Path(path).stem.split("_")[0].lower(), "M": M, "N": N,
                         "elements": elements, "element_bytes": float(element_bytes),
                         "measured_s": elements / (d[d.shape[1] - 1].astype(float) * 1e9)})


def read_vidur_collective(path: str | Path) -> pd.DataFrame:
    """Vidur ``all_reduce.csv`` / ``send_recv.csv``: median ms per message ``size``.

    ``size`` is in **bytes** (vidur's collective wrapper records ``self._size * 2`` for its FP16
    buffer of ``_size`` elements, and its predictor divides by ``2 * embedding_dim`` to get
    tokens)."""
    d = pd.read_csv(path)
    col = [c for c in d.columns if c.startswith("time_stats.") and c.endswith(".median")][0]
    return pd.DataFrame({
        "collective": d["collective"], "workers": d["num_workers"].astype(int),
        "devices_per_node": d["devices_per_node"].astype(int), "bytes": d["size"].astype(float),
        "measured_s": d[col].astype(float) * 1e-3,
    })


def read_splitwise(path: str | Path, hardware: str | None = None,
                   model: str | None = None) -> pd.DataFrame:
    """Splitwise ``perf_model.csv`` -> one row per measured configuration and phase (median of
    its runs).

    prefill: ``prompt_time`` = one prefill iteration of ``batch`` prompts of ``prompt`` tokens
    each; decode: ``token_time`` = mean decode iteration over the generation,
    ``(e2e - prompt) / (tokens - 1)``, with ``batch`` sequences whose context grows from
    ``prompt`` to ``prompt + tokens``. The prefill of a (prompt, batch) pair does not depend on the
    output length, so its runs are pooled over ``token_size``. Runs that could not hold their
    whole batch are kept but marked in ``excluded`` (the reason, else empty)."""
    d = pd.read_csv(path)
    if hardware:
        d = d[d.hardware == hardware]
    if model:
        d = d[d.model == model]
    keys = ["model", "hardware", "tensor_parallel", "prompt_size", "batch_size"]
    pre = d.groupby(keys, as_index=False).agg(measured_ms=("prompt_time", "median"),
                                              runs=("prompt_time", "size"),
                                              spread=("prompt_time", "std"))
    pre["token_size"] = 0
    pre["phase"] = "prefill"
    dec = d.groupby(keys + ["token_size"], as_index=False).agg(
        measured_ms=("token_time", "median"), runs=("token_time", "size"),
        spread=("token_time", "std"))
    dec["phase"] = "decode"
    out = pd.concat([pre, dec], ignore_index=True)
    out = out.rename(columns={"tensor_parallel": "tp", "prompt_size": "prompt",
                              "batch_size": "batch", "token_size": "tokens"})
    out["measured_s"] = out.measured_ms * 1e-3
    out["spread_pct"] = 100 * out.spread / out.measured_ms
    out["chip"] = out.hardware.map(SPLITWISE_HARDWARE)
    out["catalog_model"] = out.model.map(SPLITWISE_MODELS)
    out["excluded"] = ""
    # A run that could not hold the whole batch: its prefill time falls below half that of the
    # previous (half as large) batch, which no amount of extra work explains. Both phases go.
    pre = out[out.phase == "prefill"].set_index(["model", "hardware", "tp", "prompt", "batch"])
    pre = pre.measured_s
    for (m, hw, tp, p, b), t in pre.items():
        prev = pre.get((m, hw, tp, p, b // 2))
        if b > 1 and prev is not None and t < 0.5 * prev:
            sel = ((out.model == m) & (out.hardware == hw) & (out.tp == tp) & (out.prompt == p)
                   & (out.batch == b))
            out.loc[sel, "excluded"] = (
                f"batch {b} prefill ({t * 1e3:.0f} ms) is under half of batch {b // 2} "
                f"({prev * 1e3:.0f} ms): the run did not hold the whole batch")
    return out.drop(columns=["spread", "measured_ms"]).reset_index(drop=True)


def read_cases(kind: str, csv_path: str | Path, hardware: str | None = None,
               model: str | None = None) -> pd.DataFrame:
    """The cases of one fit ``kind`` from ``csv_path``: the kind's reader, with the rows the fit
    must not see removed (other collectives than all-reduce; Splitwise runs marked excluded).

    ``hardware`` and ``model`` select Splitwise rows (its names, e.g. ``h100-80gb``)."""
    if kind == "gemm":
        return read_vidur_gemm(csv_path)
    if kind == "matmul":
        return read_llmcompass_matmul(csv_path)
    if kind == "allreduce":
        d = read_vidur_collective(csv_path)
        return d[d.collective == "all_reduce"].reset_index(drop=True)
    if kind == "elementwise":
        return read_llmcompass_elementwise(csv_path)
    if kind == "iteration":
        d = read_splitwise(csv_path, hardware, model)
        return d[d.excluded == ""].reset_index(drop=True)
    raise ValueError(f"unknown kind {kind!r} (allowed: {', '.join(KINDS)})")
