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
        self.bf16 = False
        self._previous_threads: int | None = None

    def load(self, path: Path, threads: int) -> None:
        if path.suffix == ".onnx":
            raise RuntimeBackendError(
                f"{path}: the torch backend loads model.json + model.safetensors, not ONNX"
            )
        self.model_, spec = load_deployable(path)
        self.bf16 = spec.precision == "bf16"
        # torch's intra-op thread count is process-wide: set it for this predictor, put the
        # previous value back on close.
        self._previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        self.threads = threads

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.model_ is None:
            raise RuntimeError("predict called before load")
        with torch.inference_mode():
            if self.bf16:  # the network in bfloat16, the outputs back in float32
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    result = self.model_(torch.from_numpy(x))
                out: np.ndarray = result.float().numpy()
            else:
                out = self.model_(torch.from_numpy(x)).numpy()
        return out

    def close(self) -> None:
        self.model_ = None
        if self._previous_threads is not None:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None
