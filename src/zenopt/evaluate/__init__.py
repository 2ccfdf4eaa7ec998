"""Evaluation on the held-out test split: classification and regression metrics with intervals."""

from zenopt.evaluate.metrics import (
    classification_metrics,
    decode_outputs,
    primary_metric,
    regression_metrics,
    wilson_interval,
)

__all__ = [
    "classification_metrics",
    "decode_outputs",
    "primary_metric",
    "regression_metrics",
    "wilson_interval",
]
