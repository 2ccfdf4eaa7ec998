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
    IMAGE_SUFFIXES,
    class_folders,
    folder_arrays,
    idx_arrays,
    image_files,
    labels_text,
    npz_arrays,
    npz_features,
    sibling_labels,
    sized,
    stack_images,
)
from zenopt.data.input_fit import ModelInput, check_kind, check_labels, check_shape
from zenopt.data.sources import kind_of_path
from zenopt.data.tables import numeric_column, read_table, stack_columns, target_texts, text_column
from zenopt.data.targets import canonical_label

__all__ = ["PredictionInput", "read_for_model", "read_for_prediction"]


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


def _folder(path: Path, config: DataConfig) -> tuple[np.ndarray, list[str] | None]:
    """Class sub-folders give labels; images directly in the folder are predicted without."""
    if class_folders(path):
        return folder_arrays(path, config)
    files = image_files(path)
    if not files:
        raise DataError(
            f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in it or in class "
            "sub-folders; nothing to predict"
        )
    return stack_images(files, config), None


def _read(
    path: Path, kind: str, config: DataConfig, inputs: dict[str, Any]
) -> tuple[np.ndarray, list[str] | None]:
    """The model's input and the label texts (as written), for a source of ``kind``."""
    if kind == "table":
        found = _table(path, config, inputs)
        return found.X, found.labels
    if kind == "npz":
        arrays, y = npz_arrays(path, need_labels=False)
        return npz_features(arrays, path, config), None if y is None else labels_text(y, path, "y")
    if kind == "idx":
        # the labels of new images sit next to them, if anywhere: never the run's data.labels
        images, y = idx_arrays(path, sibling_labels(path), need_labels=False)
        return sized(images, config), None if y is None else labels_text(y, path, "labels")
    return _folder(path, config)


def read_for_prediction(
    path: Path, config: DataConfig, inputs: dict[str, Any], task: str
) -> PredictionInput:
    """Read ``path`` the way the run read its training data, with the run's fitted encoder."""
    if not path.exists():
        raise DataError(f"{path}: file not found; pass the data to predict on")
    X, labels = _read(path, kind_of_path(path), config, inputs)
    return PredictionInput(X, None if labels is None else _canonical(labels, task, path))


def read_for_model(path: Path, config: DataConfig, model: dict[str, Any]) -> PredictionInput:
    """:func:`read_for_prediction`, checked against the model's record (the manifest's
    ``model`` section): the kind of data before reading it, the shape of each sample and the
    labels after, so that no runtime is handed what it cannot take."""
    if not path.exists():
        raise DataError(f"{path}: file not found; pass the data to predict on")
    expected = ModelInput.from_record(model, config)
    kind = kind_of_path(path)
    check_kind(path, kind, expected)
    X, labels = _read(path, kind, config, model.get("inputs") or {})
    if len(X) == 0:
        raise DataError(f"{path}: no samples in it; nothing to predict")
    check_shape(X, path, expected)
    if labels is None:
        return PredictionInput(X, None)
    canonical = _canonical(labels, expected.task, path)
    check_labels(canonical, path, kind, expected)
    return PredictionInput(X, canonical)
