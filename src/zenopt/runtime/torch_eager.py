"""PyTorch eager backend: rebuilds the model from model.json + safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zenopt.core.errors import RuntimeBackendError
from zenopt.models.deployable import DeployableModel, load_deployable

__all__ = ["TorchEagerPredictor"]


class TorchEagerPredictor:
    name = "torch"

    def __init__(self) -> None:
        self.threads = 0
        self.model_: DeployableModel | None = None

    def load(self, path: Path, threads: int) -> None:
        if path.suffix == ".onnx":
            raise RuntimeBackendError(
                f"{path}: the torch backend loads model.json + model.safetensors, not ONNX"
            )
        torch.set_num_threads(threads)
        self.threads = threads
        self.model_, _ = load_deployable(path)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model_ is None:
            raise RuntimeError("predict called before load")
        with torch.inference_mode():
            out: np.ndarray = self.model_(torch.from_numpy(x)).numpy()
        return out

    def close(self) -> None:
        self.model_ = None
