"""The graph ONNX Runtime actually runs: the reference that operator profiles are checked
against in tests."""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxruntime as ort


def optimized_graph(path: Path, tmp: Path) -> onnx.GraphProto:
    """``path`` after ONNX Runtime's full graph optimisation (fusions, layouts), as it runs."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(str(tmp / "optimized.onnx")).graph
