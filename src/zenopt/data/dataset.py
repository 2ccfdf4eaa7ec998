"""The in-memory data set every later stage works on."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
    # Text columns of a table, one object array of str (None where missing) per column; they
    # are encoded to numbers after the split, with categories learned from the training split.
    categorical: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X.shape[1:])

    def first_occurrences(self) -> np.ndarray:
        """Sorted indices of the first of each group of identical rows (features, text columns
        and target alike); NaN cells compare equal to NaN cells."""
        n = len(self.y)
        parts = [self.X.reshape(n, -1).astype(np.float64), self.y.reshape(n, 1).astype(np.float64)]
        for column in self.categorical.values():
            text = np.asarray(["\x00" if v is None else str(v) for v in column])
            _, codes = np.unique(text, return_inverse=True)
            parts.append(codes.reshape(n, 1).astype(np.float64))
        rows = np.ascontiguousarray(np.concatenate(parts, axis=1))
        view = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
        _, first = np.unique(view, return_index=True)
        return np.sort(first)

    def duplicate_rows(self) -> int:
        """Rows that repeat an earlier row exactly."""
        return len(self.y) - len(self.first_occurrences()) if len(self.y) else 0

    def without_duplicates(self) -> tuple[Dataset, int]:
        """The data set with repeated rows dropped (the first of each kept), and how many went."""
        keep = self.first_occurrences()
        cats = {k: v[keep] for k, v in self.categorical.items()}
        kept = replace(self, X=self.X[keep], y=self.y[keep], categorical=cats)
        return kept, len(self.y) - len(keep)

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
        if self.kind == "table":
            missing = np.isnan(self.X).sum(axis=0) if self.X.size else []
            out["missing_values"] = {
                name: int(m) for name, m in zip(self.feature_names, missing, strict=False) if m
            }
            for name, column in self.categorical.items():
                count = int(sum(v is None for v in column))
                if count:
                    out["missing_values"][name] = count
            out["categorical_columns"] = list(self.categorical)
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
    categorical: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
