"""ONNX Runtime backend on the CPU, with full graph optimisation and explicit thread counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.errors import RuntimeBackendError, first_line

__all__ = ["OnnxRuntimePredictor", "make_session"]


def make_session(path: Path, threads: int, spinning: bool = True) -> Any:
    """An ONNX Runtime session on the CPU; ``spinning=False``: its intra-op threads sleep
    between calls instead of spinning (a server, which shares its cores with its own event
    loop, keeps them; a benchmark of back-to-back calls does not care)."""
    import onnxruntime as ort

    if not path.is_file():
        raise RuntimeBackendError(f"{path}: ONNX model not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own untyped errors for bad files
        first = first_line(exc)
        raise RuntimeBackendError(f"{path}: ONNX Runtime cannot load it: {first}") from None


class OnnxRuntimePredictor:
    name = "onnxruntime"

    def __init__(self) -> None:
        self.threads = 0
        self.spinning = True  # see make_session
        self.session_: Any = None
        self.input_name_ = ""

    def load(self, path: Path, threads: int) -> None:
        if path.is_dir():
            path = path / "model.onnx"
        self.session_ = make_session(path, threads, self.spinning)
        self.threads = threads
        self.input_name_ = self.session_.get_inputs()[0].name

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.session_ is None:
            raise RuntimeError("predict called before load")
        out: np.ndarray = self.session_.run(None, {self.input_name_: x})[0]
        return out

    def close(self) -> None:
        self.session_ = None
