"""The deployed model's input layer: the fitted feature transform as PyTorch operations.

It mirrors ``zenopt.data.transform.FeatureTransform.apply`` step for step, so the ONNX file takes
raw features (NaN for a missing value) and applies the training split's statistics itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["InputTransform"]

STEPS = ("fill", "clip_lo", "clip_hi", "center", "scale", "select", "pca_mean", "pca_components")


class InputTransform(nn.Module):
    """impute → clip → (x - center) / scale → select columns → PCA projection; each optional."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        arrays = arrays or {}
        unknown = set(arrays) - set(STEPS)
        if unknown:
            raise ValueError(f"unknown input transform arrays: {sorted(unknown)}")
        self.steps = [name for name in STEPS if name in arrays]
        for name in self.steps:
            value = np.asarray(arrays[name])
            dtype = np.int64 if name == "select" else np.float32
            self.register_buffer(name, torch.as_tensor(value.astype(dtype)))

    def _get(self, name: str) -> torch.Tensor:
        value: torch.Tensor = getattr(self, name)
        return value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if "fill" in self.steps:
            x = torch.where(torch.isnan(x), self._get("fill"), x)
        if "clip_lo" in self.steps:
            x = torch.minimum(torch.maximum(x, self._get("clip_lo")), self._get("clip_hi"))
        if "center" in self.steps:
            x = (x - self._get("center")) / self._get("scale")
        if "select" in self.steps:
            x = torch.index_select(x, 1, self._get("select"))
        if "pca_mean" in self.steps:
            x = (x - self._get("pca_mean")) @ self._get("pca_components").T
        return x

    def layout(self) -> dict[str, Any]:
        """Names and shapes of the buffers: enough to rebuild the module before loading weights."""
        return {name: list(self._get(name).shape) for name in self.steps}

    @classmethod
    def from_layout(cls, layout: dict[str, Any]) -> InputTransform:
        return cls({name: np.zeros(shape, dtype=np.float32) for name, shape in layout.items()})
