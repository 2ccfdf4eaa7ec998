"""Per-operator time of a model in its own runtime.

ONNX Runtime: the session's own profiler (``SessionOptions.enable_profiling``) writes a Chrome
trace with one ``*_kernel_time`` event per node and call and one ``model_run`` event per call;
the warm-up calls are dropped by their ``model_run`` window. PyTorch: ``torch.profiler`` on the
CPU, self time per aten operator (self time, so nested calls are not counted twice).

Both give the time per call of each operator type, its share of the kernel time, the nodes
behind it, and how much of the call was spent outside any kernel (framework overhead).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.profile.hostlock import timing_section
from zenopt.runtime.onnx_runtime import graph_level, recorded_level

__all__ = [
    "FLOAT_COMPUTE",
    "INT8_OPS",
    "category",
    "onnx_operator_profile",
    "summarize_ort_trace",
    "torch_operator_profile",
]

# Compute operators that still run in float after quantization ("stayed in float").
FLOAT_COMPUTE = frozenset(
    {"Conv", "FusedConv", "NhwcFusedConv", "MatMul", "FusedMatMul", "Gemm", "FusedGemm"}
)
INT8_OPS = frozenset(
    {
        "QLinearConv",
        "ConvInteger",
        "MatMulInteger",
        "QLinearMatMul",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QGemm",
        "QLinearAdd",
        "QLinearMul",
        "QLinearAveragePool",
        "QLinearGlobalAveragePool",
        "QLinearConcat",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearSoftmax",
    }
)
QUANTIZE_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})
REORDER_OPS = frozenset({"ReorderInput", "ReorderOutput", "Transpose"})


def category(op: str) -> str:
    """What an operator type is, for the before/after comparison."""
    if op in QUANTIZE_OPS:
        return "quantize/dequantize"
    if op in REORDER_OPS:
        return "layout reorder"
    if op in INT8_OPS:
        return "int8 compute"
    if op in FLOAT_COMPUTE:
        return "float compute"
    return "other"


def _table(
    per_op: dict[str, float], nodes: dict[str, set[str]], calls: int, wall_us: float
) -> dict[str, Any]:
    kernel_us = sum(per_op.values())
    rows = [
        {
            "op": op,
            "category": category(op),
            "us_per_call": us / calls,
            "share": us / kernel_us if kernel_us else 0.0,
            "nodes": len(nodes[op]),
        }
        for op, us in sorted(per_op.items(), key=lambda kv: -kv[1])
    ]
    kernel_per_call = kernel_us / calls
    wall_per_call = wall_us / calls if wall_us else kernel_per_call
    return {
        "calls": calls,
        "kernel_us_per_call": kernel_per_call,
        "wall_us_per_call": wall_per_call,
        "overhead_share": max(0.0, 1 - kernel_per_call / wall_per_call) if wall_per_call else 0.0,
        "ops": rows,
        "by_category": _by_category(rows),
        "float_compute_nodes": sorted(
            f"{n} ({op})" for op in FLOAT_COMPUTE for n in nodes.get(op, ())
        ),
    }


def _by_category(rows: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for row in rows:
        totals[row["category"]] += row["us_per_call"]
    return dict(totals)


def summarize_ort_trace(events: list[dict[str, Any]], warmup: int) -> dict[str, Any]:
    """Per-operator time per call from an ONNX Runtime profile, skipping the first ``warmup``
    ``model_run`` calls (their node events fall inside those calls' time windows)."""
    runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )
    if len(runs) <= warmup:
        raise ValueError(f"the profile holds {len(runs)} calls; more than {warmup} needed")
    kept = runs[warmup:]
    start = kept[0]["ts"]
    per_op: dict[str, float] = defaultdict(float)
    nodes: dict[str, set[str]] = defaultdict(set)
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith("_kernel_time") or event["ts"] < start:
            continue
        op = event.get("args", {}).get("op_name", "?")
        per_op[op] += float(event["dur"])
        nodes[op].add(name.removesuffix("_kernel_time"))
    wall = sum(float(r["dur"]) for r in kept)
    return _table(per_op, nodes, len(kept), wall)


def onnx_operator_profile(
    path: Path, x: np.ndarray, threads: int, warmup: int, repeats: int
) -> dict[str, Any]:
    """Run ``path`` ``warmup + repeats`` times on ``x`` with ONNX Runtime's profiler on,
    holding the host lock exclusively."""
    import onnxruntime as ort

    with timing_section(), tempfile.TemporaryDirectory(prefix="zenopt-ortprof-") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = graph_level(recorded_level(path))
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        feed = {session.get_inputs()[0].name: np.ascontiguousarray(x)}
        for _ in range(warmup + repeats):
            session.run(None, feed)
        trace = Path(session.end_profiling())
        events = json.loads(trace.read_text(encoding="utf-8"))
    result = summarize_ort_trace(events, warmup)
    return {"runtime": "onnxruntime", "batch": int(x.shape[0]), "threads": threads, **result}


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """The profiler's C++ side prints a line to file descriptor 2 on every start and stop
    (no setting turns it off); only that window is silenced."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def torch_operator_profile(
    model: Any, x: np.ndarray, threads: int, warmup: int, repeats: int, bf16: bool = False
) -> dict[str, Any]:
    """Self CPU time per aten operator over ``repeats`` calls, after ``warmup`` calls; with
    ``bf16`` under bfloat16 autocast, as the torch runtime deploys a bf16 plan. The host lock
    is held exclusively."""
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    with timing_section():
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            batch = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                for _ in range(warmup):
                    model(batch)
                with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU]) as prof:
                    tick = time.perf_counter()
                    for _ in range(repeats):
                        model(batch)
                    wall_us = (time.perf_counter() - tick) * 1e6
        finally:
            torch.set_num_threads(previous)
    per_op: dict[str, float] = {}
    nodes: dict[str, set[str]] = defaultdict(set)
    for item in prof.key_averages():
        if item.self_cpu_time_total > 0:
            per_op[item.key] = float(item.self_cpu_time_total)
            # "nodes" for torch: calls of the operator per forward pass
            nodes[item.key] = {str(i) for i in range(max(1, item.count // repeats))}
    result = _table(per_op, nodes, repeats, wall_us)
    # The profiler's own bookkeeping inflates wall time; the shares between operators stand.
    return {"runtime": "torch", "batch": int(x.shape[0]), "threads": threads, **result}
