"""The rules the Keras child trains by, in plain NumPy so that tests hold them against
zenopt's own PyTorch ones: validation scores, outputs as logits, the learning-rate schedules
and the early-stopping rule."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Best", "Plateau", "cosine_lr", "score", "to_logits"]


def to_logits(raw: np.ndarray, probs: bool, loss: str) -> np.ndarray:
    """Outputs as the logits zenopt's heads take (softmax of log p is p)."""
    raw = raw.astype(np.float64)
    if not probs or loss == "mse":
        return raw
    p = np.clip(raw, 1e-12, 1.0)
    if loss == "bce":
        p = np.clip(p, 1e-12, 1.0 - 1e-12)
        return np.asarray(np.log(p) - np.log1p(-p))
    return np.asarray(np.log(p))


def score(logits: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, float]:
    """The task loss and zenopt's monitored metric (accuracy, or MSE) on validation."""
    if loss == "cross_entropy":
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        value = float(np.mean(log_z - logits[np.arange(len(y)), y]))
        return value, float(np.mean(logits.argmax(axis=1) == y))
    if loss == "bce":
        z = logits[:, 0]
        value = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
        return value, float(np.mean((z > 0).astype(int) == y))
    mse = float(np.mean((logits[:, 0] - y) ** 2))
    return mse, mse


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """PyTorch's ``CosineAnnealingLR(T_max=epochs)`` at the start of ``epoch`` (from 0)."""
    return 0.5 * lr * (1 + math.cos(math.pi * epoch / epochs))


class Plateau:
    """PyTorch's ``ReduceLROnPlateau`` as zenopt sets it: factor 0.5, relative threshold
    1e-4, ``patience`` epochs without an improvement before each halving."""

    def __init__(self, patience: int, maximize: bool) -> None:
        self.patience, self.maximize = patience, maximize
        self.best: float | None = None
        self.bad = 0

    def step(self, metric: float, lr: float) -> float:
        """The learning rate for the next epoch, after one with ``metric``."""
        if self.best is None:
            better = True
        elif self.maximize:
            better = metric > self.best * (1 + 1e-4)
        else:
            better = metric < self.best * (1 - 1e-4)
        if better:
            self.best, self.bad = metric, 0
            return lr
        self.bad += 1
        if self.bad > self.patience:
            self.bad = 0
            return lr * 0.5
        return lr


class Best:
    """zenopt's early-stopping rule (``train.early_stopping``): improve by more than
    ``min_delta``, or tie on the metric at a lower validation loss; keeps that epoch's
    weights (``model.get_weights()``)."""

    def __init__(self, patience: int | None, min_delta: float, maximize: bool) -> None:
        self.patience, self.min_delta, self.maximize = patience, min_delta, maximize
        self.value: float | None = None
        self.loss: float | None = None
        self.epoch, self.bad, self.stopped = 0, 0, False
        self.weights: Any = None

    def update(self, value: float, loss: float | None, epoch: int, model: Any) -> bool:
        """Record an epoch; True when training should stop."""
        best = self.value
        if best is None:
            better = True
        elif self.maximize:
            better = value > best + self.min_delta
        else:
            better = value < best - self.min_delta
        tie = (
            best is not None
            and value == best
            and loss is not None
            and self.loss is not None
            and loss < self.loss
        )
        if better or tie:
            self.value, self.loss, self.epoch, self.bad = value, loss, epoch, 0
            self.weights = model.get_weights()
            return False
        self.bad += 1
        self.stopped = self.patience is not None and self.bad >= self.patience
        return self.stopped
