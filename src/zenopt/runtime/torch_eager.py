"""PyTorch eager backend: rebuilds the model from model.json + safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zenopt.core.errors import RuntimeBackendError
from zenopt.models.deployable import DeployableModel, load_deployable

__all__ = ["TorchEagerPredictor", "run_torch"]


def run_torch(model: torch.nn.Module, x: np.ndarray, bf16: bool = False) -> np.ndarray:
    """One inference call; with ``bf16`` the network runs under bfloat16 autocast and the
    outputs come back in float32."""
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out: np.ndarray = model(torch.from_numpy(x)).float().numpy()
    return out


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
        return run_torch(self.model_, x, self.bf16)

    def close(self) -> None:
        self.model_ = None
        if self._previous_threads is not None:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None
