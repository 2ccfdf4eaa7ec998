"""The in-memory data set every later stage works on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["Dataset", "Split", "Splits", "Task"]

Task = Literal["binary", "multiclass", "regression"]


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (float32, one row per sample) and targets ``y``.

    ``y`` holds class indices 0..K-1 (int64) for classification and float32 for regression.
    Image data keeps its ``(channels, height, width)`` shape per sample.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: Task
    kind: Literal["image", "table"]
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "rows": int(self.X.shape[0]),
            "input_shape": list(self.input_shape),
        }
        if self.task == "regression":
            out["target"] = {
                "mean": float(np.mean(self.y)),
                "std": float(np.std(self.y)),
                "min": float(np.min(self.y)),
                "max": float(np.max(self.y)),
            }
        else:
            counts = np.bincount(self.y, minlength=self.num_classes)
            out["class_counts"] = {n: int(c) for n, c in zip(self.class_names, counts, strict=True)}
        return out


@dataclass(frozen=True)
class Split:
    X: np.ndarray
    y: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
