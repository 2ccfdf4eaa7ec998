"""What a model's outputs mean: the head turns raw outputs into predictions."""

from __future__ import annotations

import csv
import io
from typing import Literal

import numpy as np

__all__ = [
    "Head",
    "class_probabilities",
    "decode_outputs",
    "prediction_texts",
    "predictions_csv",
]

# softmax: one logit per class · sigmoid: one logit, positive class when > 0 · identity: a value
Head = Literal["softmax", "sigmoid", "identity"]


def decode_outputs(outputs: np.ndarray, head: str) -> np.ndarray:
    """Model outputs to predictions: class index for classification, value for regression."""
    if head == "softmax":
        return np.asarray(np.argmax(outputs, axis=1), dtype=np.int64)
    if head == "sigmoid":
        return (outputs.reshape(-1) > 0).astype(np.int64)
    return np.asarray(outputs.reshape(-1), dtype=np.float64)


def class_probabilities(outputs: np.ndarray, head: str) -> np.ndarray:
    """A classifier's outputs (logits) as float32 probabilities, one column per class: the
    softmax, or ``[1 - p, p]`` for a sigmoid head's single logit."""
    logits = np.asarray(outputs, dtype=np.float64)
    if head == "sigmoid":
        p = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.stack([1.0 - p, p], axis=1).astype(np.float32)
    if head != "softmax":
        raise ValueError(f"a {head!r} head has no class probabilities")
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: np.ndarray = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
    return probabilities


def prediction_texts(outputs: np.ndarray, head: str, class_names: list[str]) -> list[str]:
    """Predictions as a person reads them: the class name, or the value (full precision)."""
    decoded = decode_outputs(outputs, head)
    if head == "identity":
        return [repr(float(v)) for v in decoded]
    return [class_names[int(i)] for i in decoded]


def predictions_csv(
    rows: np.ndarray,
    predictions: list[str],
    labels: list[str] | None = None,
    probabilities: dict[str, np.ndarray] | None = None,
) -> str:
    """CSV text: ``row`` (0-based data row of the input), ``prediction``, ``label`` if known,
    and a ``p(CLASS)`` column per class when ``probabilities`` (class name → column) are given,
    at float32's full precision."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = list(probabilities or {})
    header = ["row", "prediction"] + (["label"] if labels is not None else [])
    writer.writerow(header + [f"p({name})" for name in extra])
    for i, row in enumerate(rows):
        cells = [int(row), predictions[i]] + ([labels[i]] if labels is not None else [])
        cells += [repr(float(probabilities[name][i])) for name in extra]  # type: ignore[index]
        writer.writerow(cells)
    return buffer.getvalue()
