"""Lower float precision, kept only where it is measured faster.

``fp16`` converts the ONNX model to float16 (inputs and outputs stay float32) and runs it in
ONNX Runtime; ``bf16`` runs the PyTorch network under bfloat16 autocast, which only CPUs with
AVX-512 BF16 or AMX execute natively. Either is timed against the float32 form of the same model
in the same runtime, side by side, at batch 1 and at the run's throughput batch; with
``keep: if_faster`` a precision that is not faster at both is dropped and the note says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from zenopt.compress._base import (
    CompressContext,
    CompressState,
    register,
    require_pytorch_form,
)
from zenopt.compress.onnx_graph import export_state
from zenopt.core.compress_config import Precision
from zenopt.profile.hostlock import timing_section
from zenopt.profile.latency import make_batch, measure_calls
from zenopt.runtime.onnx_runtime import make_session
from zenopt.runtime.torch_eager import run_torch

__all__ = ["lower_precision"]

WARMUP, REPEATS = 10, 40
BATCHES = (1, 64)


def _medians(predict: Callable[[np.ndarray], object], pool: np.ndarray) -> dict[int, float]:
    medians = {}
    for b in BATCHES:
        samples = measure_calls(predict, make_batch(pool, b), WARMUP, REPEATS, f"precision b{b}")
        medians[b] = float(np.median(samples))
    return medians


def _onnx_predict(path: Path, threads: int) -> Callable[[np.ndarray], object]:
    session = make_session(path, threads)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def _torch_predict(model: torch.nn.Module, bf16: bool) -> Callable[[np.ndarray], object]:
    return lambda x: run_torch(model, x, bf16)


def _fp16(state: CompressState, ctx: CompressContext, threads: int) -> tuple[Any, Any]:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src = export_state(state, ctx.workdir / "fp32_for_fp16.onnx")
    half = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    dst = ctx.workdir / "fp16.onnx"
    onnx.save(half, str(dst))
    pool = ctx.X_holdout
    with timing_section():  # both forms in one hold: no training between the two
        fp32 = _medians(_onnx_predict(src, threads), pool)
        low = _medians(_onnx_predict(dst, threads), pool)
    return (fp32, low), dst.read_bytes()


@register(Precision)
def lower_precision(config: Precision, state: CompressState, ctx: CompressContext) -> CompressState:
    threads = state.threads or torch.get_num_threads()
    if config.dtype == "fp16":
        require_pytorch_form(
            config,
            state,
            "the model is already INT8 or fp16; fp16 replaces quantization, it does not follow it",
        )
        (fp32, low), payload = _fp16(state, ctx, threads)
    else:
        require_pytorch_form(
            config,
            state,
            "bf16 runs in PyTorch, so it must come before quantize/qat/fp16 "
            "and the plan must end in runtime torch or torch_compile",
        )
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            pool = ctx.X_holdout
            with timing_section():  # both forms in one hold: no training between the two
                fp32 = _medians(_torch_predict(state.model, False), pool)
                low = _medians(_torch_predict(state.model, True), pool)
        finally:
            torch.set_num_threads(previous)
        payload = None
    faster = all(low[b] < fp32[b] for b in BATCHES)
    kept = faster or config.keep == "always"
    if kept:
        if payload is not None:
            state.onnx = payload
        else:
            state.spec = dataclasses.replace(state.spec, precision="bf16")
    state.notes.append(
        {
            "step": config.label(),
            "kept": kept,
            "median_ms_fp32": fp32,
            f"median_ms_{config.dtype}": low,
            "why": "faster at every batch measured"
            if faster
            else "not faster than fp32 at every batch measured"
            + ("; kept because keep=always" if kept else "; dropped, the model stays fp32"),
        }
    )
    return state
