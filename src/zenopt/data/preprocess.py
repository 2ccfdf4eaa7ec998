"""Scaling of a regression target, fitted on the training split and undone by the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TargetScaler"]


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
