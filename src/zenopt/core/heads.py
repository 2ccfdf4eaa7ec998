"""What a model's outputs mean: the head turns raw outputs into predictions."""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["Head", "decode_outputs"]

# softmax: one logit per class · sigmoid: one logit, positive class when > 0 · identity: a value
Head = Literal["softmax", "sigmoid", "identity"]


def decode_outputs(outputs: np.ndarray, head: str) -> np.ndarray:
    """Model outputs to predictions: class index for classification, value for regression."""
    if head == "softmax":
        return np.asarray(np.argmax(outputs, axis=1), dtype=np.int64)
    if head == "sigmoid":
        return (outputs.reshape(-1) > 0).astype(np.int64)
    return np.asarray(outputs.reshape(-1), dtype=np.float64)
