"""Is a candidate what it claims to be? Its deployed form against the FP32 PyTorch form it came
from, on the same rows.

A candidate deployed in ONNX Runtime runs a graph written by an exporter or a quantizer; an
FP32 graph is checked against PyTorch when it is exported, but an INT8 or fp16 graph is a new
model whose only check would otherwise be its quality. A broken quantization (a wrong scale, a
mis-wired node) can still score well on an easy split. Here the deployed outputs are compared
with the PyTorch form's, the FP32 model the quantizer started from: the share of rows on which
both predict the same class (for regression, the same value within 1% of the outputs' spread)
and the largest absolute difference of the raw outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zenopt.compress._base import CompressState
from zenopt.core.heads import decode_outputs
from zenopt.evaluate.quality import predict_torch
from zenopt.runtime.deployed import deploy_path
from zenopt.runtime.predictor import predict_with_backend

__all__ = ["agreement", "fidelity"]


def agreement(deployed: np.ndarray, reference: np.ndarray, head: str) -> float:
    """The share of rows on which two models' outputs mean the same prediction."""
    d, r = decode_outputs(deployed, head), decode_outputs(reference, head)
    if head == "identity":
        tolerance = 0.01 * max(float(np.std(r)), 1e-6)
        return float(np.mean(np.abs(d - r) <= tolerance))
    return float(np.mean(d == r))


def fidelity(
    state: CompressState, files: dict[str, Path], X: np.ndarray, threads: int
) -> dict[str, Any]:
    """The candidate in its runtime against its FP32 PyTorch form, on the rows ``X``."""
    runtime = state.runtime or "onnxruntime"
    deployed = predict_with_backend(runtime, deploy_path(files, runtime), X, threads)
    reference = predict_torch(state.model, X)
    return {
        "agreement": agreement(deployed, reference, state.spec.head),
        "max_abs_diff": float(np.max(np.abs(deployed - reference))) if len(X) else 0.0,
        "rows": len(X),
        "against": "its FP32 ONNX graph (it has no PyTorch form)"
        if state.spec.name == "onnx_file"
        else "its FP32 PyTorch form",
        "form": "ONNX (INT8 or fp16)"
        if state.onnx is not None
        else f"{runtime} {getattr(state.spec, 'precision', 'fp32')}",
    }
