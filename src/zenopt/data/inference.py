"""Reading new data for a trained model: the run's own readers, checks and fitted encoder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data.encode import CategoricalEncoder
from zenopt.data.sources import load_dataset
from zenopt.data.tables import numeric_column, read_table, stack_columns, target_texts, text_column

__all__ = ["PredictionInput", "read_for_prediction"]


@dataclass(frozen=True)
class PredictionInput:
    X: np.ndarray  # the model's input: numeric + encoded categorical, NaN where missing
    labels: list[str] | None  # the true labels/values when the file has them


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


def read_for_prediction(path: Path, config: DataConfig, inputs: dict[str, Any]) -> PredictionInput:
    """Read ``path`` the way the run read its training data, with the run's fitted encoder.

    Tables (.csv, .parquet) may leave out the target column; other inputs need their labels.
    """
    if not path.exists():
        raise DataError(f"{path}: file not found; pass the data to predict on")
    if path.is_file() and path.suffix.lower() in {".csv", ".parquet", ".pq"}:
        return _table(path, config, inputs)
    dataset = load_dataset(config.model_copy(update={"source": str(path)}))
    if dataset.task == "regression":
        return PredictionInput(dataset.X, [repr(float(v)) for v in dataset.y])
    return PredictionInput(dataset.X, [dataset.class_names[i] for i in dataset.y])
