"""Quality of a model on a split: in PyTorch directly, or in any runtime through its Predictor."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from zenopt.core.heads import decode_outputs
from zenopt.evaluate.metrics import classification_metrics, regression_metrics

__all__ = ["evaluate_outputs", "predict_torch", "quality_drop"]


def evaluate_outputs(
    outputs: np.ndarray, y: np.ndarray, head: str, task: str, class_names: list[str]
) -> dict[str, Any]:
    predictions = decode_outputs(outputs, head)
    if task == "regression":
        return regression_metrics(y, predictions)
    return classification_metrics(y, predictions, class_names)


def predict_torch(model: torch.nn.Module, X: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    with torch.inference_mode():
        parts = [model(torch.from_numpy(X[i : i + batch])).numpy() for i in range(0, len(X), batch)]
    return np.concatenate(parts, axis=0)


def quality_drop(baseline: dict[str, Any], candidate: dict[str, Any], metric: str) -> float:
    """Absolute points lost on the primary metric (0 when the candidate is as good or better)."""
    if metric == "mse":
        return max(0.0, float(candidate[metric]) - float(baseline[metric]))
    return max(0.0, float(baseline[metric]) - float(candidate[metric]))
