"""The Predictor protocol and the registry of backends, imported lazily by name."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from zenopt.core.errors import RuntimeBackendError

__all__ = ["BACKENDS", "Predictor", "backend_names", "create_predictor", "predict_with_backend"]


@runtime_checkable
class Predictor(Protocol):
    """A model loaded in one runtime: NumPy float32 batch in, NumPy outputs out."""

    name: str
    threads: int

    def load(self, path: Path, threads: int) -> None: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


# name -> "module:class"; the module is imported only when the backend is asked for.
BACKENDS: dict[str, str] = {
    "torch": "zenopt.runtime.torch_eager:TorchEagerPredictor",
    "onnxruntime": "zenopt.runtime.onnx_runtime:OnnxRuntimePredictor",
    "torch_compile": "zenopt.runtime.torch_compile:TorchCompilePredictor",
}


def backend_names() -> list[str]:
    return list(BACKENDS)


def create_predictor(name: str) -> Predictor:
    target = BACKENDS.get(name)
    if target is None:
        raise RuntimeBackendError(
            f"backend {name!r} is unknown; choose from: {', '.join(BACKENDS)}"
        )
    module_name, _, cls_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    predictor: Predictor = cls()
    return predictor


def predict_with_backend(backend: str, path: Path, X: np.ndarray, threads: int) -> np.ndarray:
    """Load the artifact at ``path`` in ``backend``, predict ``X`` as one batch, close."""
    predictor = create_predictor(backend)
    predictor.load(path, threads)
    try:
        return predictor.predict(np.ascontiguousarray(X, dtype=np.float32))
    finally:
        predictor.close()
