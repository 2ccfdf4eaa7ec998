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
    # ``data.group``: each row's group (a patient), as text; rows of a group share a split.
    groups: np.ndarray | None = None
    # Rows from given files: 0 = the training source, 1 = data.val_source, 2 = data.test_source.
    assigned: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.X.shape[1:])

    def take(self, idx: np.ndarray) -> Dataset:
        """These rows (in this order) of every per-row array."""
        return replace(
            self,
            X=self.X[idx],
            y=self.y[idx],
            categorical={k: v[idx] for k, v in self.categorical.items()},
            groups=None if self.groups is None else self.groups[idx],
            assigned=None if self.assigned is None else self.assigned[idx],
        )

    def row_keys(self) -> np.ndarray:
        """One comparable key per row: features, text columns and target alike (not the
        group); NaN cells compare equal to NaN cells."""
        n = len(self.y)
        parts = [self.X.reshape(n, -1).astype(np.float64), self.y.reshape(n, 1).astype(np.float64)]
        for column in self.categorical.values():
            text = np.asarray(["\x00" if v is None else str(v) for v in column])
            _, codes = np.unique(text, return_inverse=True)
            parts.append(codes.reshape(n, 1).astype(np.float64))
        rows = np.ascontiguousarray(np.concatenate(parts, axis=1))
        # -0.0 and 0.0, and every NaN, as one bit pattern
        rows = np.where(np.isnan(rows), np.nan, rows + 0.0)
        return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()

    def first_occurrences(self) -> np.ndarray:
        """Sorted indices of the first of each group of identical rows (see ``row_keys``)."""
        _, first = np.unique(self.row_keys(), return_index=True)
        return np.sort(first)

    def duplicate_rows(self) -> int:
        """Rows that repeat an earlier row exactly."""
        return len(self.y) - len(self.first_occurrences()) if len(self.y) else 0

    def without_duplicates(self) -> tuple[Dataset, int]:
        """The data set with repeated rows dropped, and how many went. The first of each is
        kept; rows of a given test or validation file are never dropped, and a training row
        that repeats one of them goes."""
        if self.assigned is None:
            keep = self.first_occurrences()
        else:  # given rows first, so that the training copy is the one dropped
            order = np.argsort(-self.assigned, kind="stable")
            _, first = np.unique(self.row_keys()[order], return_index=True)
            keep = np.union1d(order[first], np.flatnonzero(self.assigned > 0))
        return self.take(keep), len(self.y) - len(keep)

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
        if self.groups is not None:
            out["groups"] = len(np.unique(np.asarray(self.groups, dtype=str)))
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
    groups: np.ndarray | None = None  # each row's data.group value, when the run has one

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
