"""What a model's outputs mean: the head turns raw outputs into predictions."""

from __future__ import annotations

import csv
import io
from typing import Literal

import numpy as np

__all__ = ["Head", "decode_outputs", "prediction_texts", "predictions_csv"]

# softmax: one logit per class · sigmoid: one logit, positive class when > 0 · identity: a value
Head = Literal["softmax", "sigmoid", "identity"]


def decode_outputs(outputs: np.ndarray, head: str) -> np.ndarray:
    """Model outputs to predictions: class index for classification, value for regression."""
    if head == "softmax":
        return np.asarray(np.argmax(outputs, axis=1), dtype=np.int64)
    if head == "sigmoid":
        return (outputs.reshape(-1) > 0).astype(np.int64)
    return np.asarray(outputs.reshape(-1), dtype=np.float64)


def prediction_texts(outputs: np.ndarray, head: str, class_names: list[str]) -> list[str]:
    """Predictions as a person reads them: the class name, or the value (full precision)."""
    decoded = decode_outputs(outputs, head)
    if head == "identity":
        return [repr(float(v)) for v in decoded]
    return [class_names[int(i)] for i in decoded]


def predictions_csv(
    rows: np.ndarray, predictions: list[str], labels: list[str] | None = None
) -> str:
    """CSV text: ``row`` (0-based data row of the input), ``prediction`` and ``label`` if known."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["row", "prediction"] + (["label"] if labels is not None else []))
    for i, row in enumerate(rows):
        writer.writerow([int(row), predictions[i]] + ([labels[i]] if labels is not None else []))
    return buffer.getvalue()
