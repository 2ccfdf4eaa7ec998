"""Reading new data for a trained model: the run's readers, checks and fitted encoder.

Unlike training, the labels are optional (a table may leave out its target column, an .npz its
``y``, IDX images their labels file) and nothing about the task is inferred from the new file:
the model's own task and class names decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data.encode import CategoricalEncoder
from zenopt.data.images import (
    folder_arrays,
    idx_arrays,
    labels_text,
    npz_arrays,
    npz_features,
    sibling_labels,
    sized,
)
from zenopt.data.sources import kind_of_path
from zenopt.data.tables import numeric_column, read_table, stack_columns, target_texts, text_column
from zenopt.data.targets import canonical_label

__all__ = ["PredictionInput", "read_for_prediction"]


@dataclass(frozen=True)
class PredictionInput:
    X: np.ndarray  # the model's input: numeric + encoded categorical, NaN where missing
    labels: list[str] | None  # the true classes (canonical names) or values, when present


def _canonical(labels: list[str], task: str, where: Path) -> list[str]:
    """Labels in the form the model's class names use: ``1.0`` → ``1``; values stay values."""
    out = []
    for text in labels:
        try:
            value = float(text)
        except ValueError:
            if task == "regression":
                raise DataError(
                    f"{where}: label {text!r} is not a number, but the model predicts values"
                ) from None
            out.append(text.strip())
            continue
        out.append(repr(value) if task == "regression" else canonical_label(value))
    return out


def _table(path: Path, config: DataConfig, inputs: dict[str, Any]) -> PredictionInput:
    raw = read_table(path)
    numeric: list[str] = inputs.get("numeric", [])
    encoder = CategoricalEncoder.from_dict(inputs["encoder"])
    needed = numeric + list(encoder.categories_)
    absent = [name for name in needed if name not in raw.header]
    if absent:
        raise DataError(
            f"{path}: column {absent[0]!r} is missing; the model was trained on: "
            f"{', '.join(needed)}"
        )
    values = [numeric_column(raw, name, config.impute) for name in numeric]
    X = stack_columns([v for v in values if v is not None], raw.rows)
    if encoder.categories_:
        columns = {name: text_column(raw, name) for name in encoder.categories_}
        X = np.concatenate([X, encoder.transform(columns, raw.rows)], axis=1).astype(np.float32)
    labels = None
    if config.target is not None and config.target in raw.header:
        labels = target_texts(raw, config.target)
    return PredictionInput(X, labels)


def read_for_prediction(
    path: Path, config: DataConfig, inputs: dict[str, Any], task: str
) -> PredictionInput:
    """Read ``path`` the way the run read its training data, with the run's fitted encoder."""
    if not path.exists():
        raise DataError(f"{path}: file not found; pass the data to predict on")
    kind = kind_of_path(path)
    labels: list[str] | None
    if kind == "table":
        found = _table(path, config, inputs)
        X, labels = found.X, found.labels
    elif kind == "npz":
        arrays, y = npz_arrays(path, need_labels=False)
        X = npz_features(arrays, path, config)
        labels = None if y is None else labels_text(y, path, "y")
    elif kind == "idx":
        # the labels of new images sit next to them, if anywhere: never the run's data.labels
        images, y = idx_arrays(path, sibling_labels(path), need_labels=False)
        X = sized(images, config)
        labels = None if y is None else labels_text(y, path, "labels")
    else:
        images, labels = folder_arrays(path, config)
        X = images
    return PredictionInput(X, None if labels is None else _canonical(labels, task, path))
