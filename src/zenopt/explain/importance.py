"""Permutation feature importance of a tabular model (scikit-learn's implementation).

Each feature column of the held-out test split is shuffled ``repeats`` times; its importance is
how much the primary metric drops (accuracy for classification, the rise of MSE for
regression). The model is the trained PyTorch model with its preprocessing baked in, so the
columns are the data's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from zenopt.core.heads import decode_outputs
from zenopt.evaluate.quality import predict_torch

__all__ = ["permutation_importances"]


class _Predictor:
    """The minimal estimator scikit-learn's ``permutation_importance`` calls."""

    def __init__(self, model: torch.nn.Module, head: str) -> None:
        self.model = model
        self.head = head

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Predictor:
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return decode_outputs(
            predict_torch(self.model, np.ascontiguousarray(X, np.float32)), self.head
        )


def permutation_importances(
    model: torch.nn.Module,
    head: str,
    X: np.ndarray,
    y: np.ndarray,
    feature_names: list[str],
    repeats: int,
    seed: int,
) -> dict[str, Any]:
    """Importance (mean and std over ``repeats`` shuffles) of every feature, largest first."""
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score, mean_squared_error

    regression = head == "identity"

    def score(estimator: _Predictor, X_: np.ndarray, y_: np.ndarray) -> float:
        predicted = estimator.predict(X_)
        if regression:
            return -float(mean_squared_error(y_, predicted))
        return float(accuracy_score(y_, predicted))

    result = permutation_importance(
        _Predictor(model, head), X, y, scoring=score, n_repeats=repeats, random_state=seed
    )
    names = (
        feature_names if len(feature_names) == X.shape[1] else [f"x{i}" for i in range(X.shape[1])]
    )
    order = np.argsort(-result.importances_mean, kind="stable")
    rows = [
        {
            "feature": names[i],
            "mean": float(result.importances_mean[i]),
            "std": float(result.importances_std[i]),
        }
        for i in order
    ]
    return {
        "metric": "mse" if regression else "accuracy",
        "repeats": repeats,
        "baseline_score": abs(score(_Predictor(model, head), X, y)),
        "features": rows,
    }
