"""A plan's result as a candidate: saved in its portable form and measured in its runtime.

The PyTorch form always travels as ``model.json`` (factory, params, pruned layer sizes) plus
``model.safetensors``; a candidate deployed in ONNX Runtime also gets ``model.onnx`` (the FP32
export, proven to reproduce PyTorch, or the INT8/fp16 model a step made).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.compress._base import CompressState
from zenopt.compress.unstructured import sparsity
from zenopt.core.config import BenchConfig
from zenopt.core.rundir import atomic_write_bytes
from zenopt.evaluate.quality import evaluate_outputs
from zenopt.models import save_deployable
from zenopt.profile.cost import count_flops, count_params
from zenopt.profile.latency import profile_backend
from zenopt.runtime.deployed import deploy_path
from zenopt.runtime.export import export_onnx, verify_export
from zenopt.runtime.onnx_runtime import stamp_level
from zenopt.runtime.predictor import predict_with_backend

__all__ = ["MEASURED_BATCHES", "deploy_path", "deployed_size", "measure", "save_candidate"]

# The batch sizes every candidate is measured at: single requests and two bulk sizes.
MEASURED_BATCHES = (1, 64, 256)


MANAGED_FILES = ("model.json", "model.safetensors", "model.onnx", "candidate.json")


def save_candidate(state: CompressState, folder: Path, X_check: np.ndarray) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in MANAGED_FILES:  # a candidate saved here before must not leave files behind
        (folder / name).unlink(missing_ok=True)
    files = save_deployable(state.model, state.spec, folder)
    if state.runtime == "onnxruntime":
        onnx_path = folder / "model.onnx"
        if state.onnx is None:
            export_onnx(state.model, state.spec.input_shape, onnx_path)
            verify_export(state.model, onnx_path, X_check, state.spec.head)
        else:
            atomic_write_bytes(onnx_path, state.onnx)
        stamp_level(onnx_path, state.graph_optimization)  # every session opens it at that level
        files["onnx"] = onnx_path
    return files


def deployed_size(files: dict[str, Path], runtime: str) -> int:
    """Bytes of what the runtime loads: the ONNX file, or model.json plus the safetensors."""
    return _size(files, runtime)[0]


def _size(files: dict[str, Path], runtime: str) -> tuple[int, int]:
    """Bytes of the deployed artifact, and after zlib (level 9): what zeros buy on disk."""
    if runtime == "onnxruntime":
        data = files["onnx"].read_bytes()
    else:
        data = files["safetensors"].read_bytes() + files["spec"].read_bytes()
    return len(data), len(zlib.compress(data, 9))


@dataclass(frozen=True)
class Measured:
    """A model measured in its runtime: ``quality`` on the rows it was given (the validation
    split while selecting), speed, size and cost; ``outputs`` (on those rows) feed the paired
    comparison and are not recorded."""

    quality: dict[str, Any]
    profile: dict[str, Any]
    size_bytes: int
    compressed_bytes: int
    params: int
    flops: int
    sparsity: float
    outputs: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "outputs"}


def measure(
    state: CompressState,
    files: dict[str, Path],
    X: np.ndarray,
    y: np.ndarray,
    task: str,
    bench: BenchConfig,
    threads: int,
    extra_batches: tuple[int, ...] = (),
) -> Measured:
    """Quality on the rows ``X``, ``y`` (with its 95% interval), latency and throughput on
    them at ``MEASURED_BATCHES`` (and any batch a requirement names), size and FLOPs of the
    candidate, in its own runtime."""
    runtime = state.runtime or "onnxruntime"
    path = deploy_path(files, runtime)
    outputs = predict_with_backend(runtime, path, X, threads)
    quality = evaluate_outputs(outputs, y, state.spec.head, task, state.spec.class_names)
    profile = profile_backend(
        runtime,
        path,
        X,
        sorted({*MEASURED_BATCHES, *extra_batches}),
        bench.warmup,
        bench.repeats,
        bench.throughput_repeats,
        threads,
        frozenset({1, *extra_batches[:1]}),
    )
    size, packed = _size(files, runtime)
    return Measured(
        quality=quality,
        profile=profile.to_dict(),
        size_bytes=size,
        compressed_bytes=packed,
        params=count_params(state.model.net),
        flops=count_flops(state.model, state.spec.input_shape),
        sparsity=sparsity(state.model.net)["total"],
        outputs=outputs,
    )
