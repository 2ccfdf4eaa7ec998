"""Class balancing of the training split only: class weights, over/under-sampling, SMOTE.

Resampling uses imbalanced-learn on the model-input features of the training rows; validation
and test keep their natural class mix, so their metrics stay honest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["balance_training_rows", "class_weights", "resample"]


def class_weights(y: np.ndarray, num_classes: int) -> np.ndarray:
    """``n / (k · count_c)``: each class contributes equally to the loss (scikit-learn's
    ``class_weight="balanced"``)."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    weights = len(y) / (num_classes * np.maximum(counts, 1.0))
    return weights.astype(np.float32)


def resample(X: np.ndarray, y: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random over-sampling, random under-sampling or SMOTE of ``(X, y)``; images are
    flattened for the sampler and reshaped back."""
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.under_sampling import RandomUnderSampler

    shape = X.shape[1:]
    flat = X.reshape(len(X), -1)
    if method == "oversample":
        sampler = RandomOverSampler(random_state=seed)
    elif method == "undersample":
        sampler = RandomUnderSampler(random_state=seed)
    else:  # check_data_options made sure every class has at least 2 training rows
        smallest = int(np.bincount(y)[np.bincount(y) > 0].min())
        sampler = SMOTE(random_state=seed, k_neighbors=max(1, min(5, smallest - 1)))
    X_out, y_out = sampler.fit_resample(flat, y)
    return X_out.reshape(-1, *shape).astype(np.float32), np.asarray(y_out, dtype=np.int64)


def balance_training_rows(
    method: str, X: np.ndarray, y: np.ndarray, num_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Apply ``data.balance`` to the training rows: (X, y, loss class weights, record)."""
    record: dict[str, Any] = {"method": method}
    if method == "none":
        return X, y, None, record
    record["class_counts_before"] = np.bincount(y, minlength=num_classes).tolist()
    if method == "class_weight":
        weights = class_weights(y, num_classes)
        record["class_weights"] = weights.tolist()
        return X, y, weights, record
    X, y = resample(X, y, method, seed)
    record["class_counts_after"] = np.bincount(y, minlength=num_classes).tolist()
    return X, y, None, record
