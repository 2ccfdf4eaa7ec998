"""Turning a target column into class indices or regression values, with the task decided."""

from __future__ import annotations

from typing import Literal

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data.dataset import Dataset, Task

__all__ = ["MAX_AUTO_CLASSES", "canonical_label", "dataset_with_target"]

# Integer targets with at most this many distinct values are read as class labels when
# ``data.task`` is ``auto``; set ``data.task`` to override.
MAX_AUTO_CLASSES = 20


def canonical_label(value: float) -> str:
    """A numeric class label's name: ``1.0`` and ``1`` are both class ``"1"``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _as_numbers(targets: list[str]) -> np.ndarray | None:
    try:
        return np.asarray([float(v) for v in targets], dtype=np.float64)
    except ValueError:
        return None


def dataset_with_target(
    name: str,
    X: np.ndarray,
    targets: list[str],
    config: DataConfig,
    where: str,
    *,
    kind: Literal["image", "table"] = "table",
    features: list[str] | None = None,
    categorical: dict[str, np.ndarray] | None = None,
    what: str = "target",
) -> Dataset:
    """Decide the task from the targets (or ``data.task``) and build the Dataset."""
    numeric = _as_numbers(targets)
    if numeric is not None and not np.all(np.isfinite(numeric)):
        bad = int(np.flatnonzero(~np.isfinite(numeric))[0])
        raise DataError(
            f"{where}: {what} value {targets[bad]!r} (data row {bad + 1}) is not finite; fix it"
        )
    task = config.task
    if task == "auto":
        integral = numeric is not None and bool(np.all(numeric == np.round(numeric)))
        few_integers = integral and len(set(targets)) <= MAX_AUTO_CLASSES
        task = "classification" if numeric is None or few_integers else "regression"
    names, cats = features or [], categorical or {}
    if task == "regression":
        if numeric is None:
            raise DataError(
                f"{where}: {what} has non-numeric values, so it cannot be a regression target; "
                "set data.task=classification"
            )
        return Dataset(name, X, numeric.astype(np.float32), "regression", kind, names, [], cats)
    if numeric is not None:
        fractional = np.flatnonzero(numeric != np.round(numeric))
        if fractional.size:
            bad = int(fractional[0])
            raise DataError(
                f"{where}: {what} value {targets[bad]!r} (data row {bad + 1}) is not an integer "
                "class label; use integer labels or set data.task=regression"
            )
        labels = sorted(set(numeric.tolist()))
        class_names = [canonical_label(v) for v in labels]
        index = {v: i for i, v in enumerate(labels)}
        y = np.asarray([index[v] for v in numeric.tolist()], dtype=np.int64)
    else:
        class_names = sorted(set(targets))
        lookup = {v: i for i, v in enumerate(class_names)}
        y = np.asarray([lookup[v] for v in targets], dtype=np.int64)
    if len(class_names) < 2:
        raise DataError(
            f"{where}: {what} has one class only ({class_names[0]!r}); "
            "classification needs at least two"
        )
    task_name: Task = "binary" if len(class_names) == 2 else "multiclass"
    return Dataset(name, X, y, task_name, kind, names, class_names, cats)
