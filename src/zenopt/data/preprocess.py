"""Preprocessing fitted on the training split only and saved with the model.

The fitted statistics travel as plain numbers (JSON and safetensors buffers of the exported
model), never as pickles, so inference applies exactly the transform training saw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["Standardizer", "TargetScaler"]


@dataclass
class Standardizer:
    """Subtract the mean and divide by the standard deviation, both learned from ``fit``.

    Images are standardised per channel (one mean/std over all pixels of a channel, as the
    classic MNIST recipe does); tables per column. A constant column keeps std 1.
    """

    method: Literal["standard", "none"] = "standard"
    mean_: np.ndarray | None = None
    std_: np.ndarray | None = None

    def fit(self, X: np.ndarray, kind: Literal["image", "table"]) -> Standardizer:
        sample_shape = X.shape[1:]
        if self.method == "none":
            self.mean_ = np.zeros((), dtype=np.float32)
            self.std_ = np.ones((), dtype=np.float32)
            return self
        if kind == "image":
            axes = (0, *range(2, X.ndim))
            mean = X.mean(axis=axes, dtype=np.float64)
            std = X.std(axis=axes, dtype=np.float64)
            shape = (sample_shape[0],) + (1,) * (len(sample_shape) - 1)
        else:
            mean = X.mean(axis=0, dtype=np.float64)
            std = X.std(axis=0, dtype=np.float64)
            shape = sample_shape
        std = np.where(std > 1e-12, std, 1.0)
        self.mean_ = mean.reshape(shape).astype(np.float32)
        self.std_ = std.reshape(shape).astype(np.float32)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("Standardizer.transform called before fit")
        out: np.ndarray = ((X - self.mean_) / self.std_).astype(np.float32)
        return out

    def to_dict(self) -> dict[str, Any]:
        assert self.mean_ is not None and self.std_ is not None
        return {
            "method": self.method,
            "shape": list(self.mean_.shape),
            "mean": self.mean_.ravel().tolist(),
            "std": self.std_.ravel().tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Standardizer:
        shape = tuple(data["shape"])
        return cls(
            method=data["method"],
            mean_=np.asarray(data["mean"], dtype=np.float32).reshape(shape),
            std_=np.asarray(data["std"], dtype=np.float32).reshape(shape),
        )


@dataclass
class TargetScaler:
    """Standardise a regression target for training; the exported model undoes it."""

    mean_: float = 0.0
    std_: float = 1.0

    def fit(self, y: np.ndarray) -> TargetScaler:
        self.mean_ = float(np.mean(y))
        std = float(np.std(y))
        self.std_ = std if std > 1e-12 else 1.0
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.mean_) / self.std_).astype(np.float32)

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        return (y * self.std_ + self.mean_).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean_, "std": self.std_}
