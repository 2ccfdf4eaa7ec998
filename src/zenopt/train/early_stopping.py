"""Early stopping on a validation metric that restores the best weights."""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop after ``patience`` epochs without an improvement larger than ``min_delta``.

    A tie on the monitored metric (common for accuracy on a small validation split) is broken
    by the validation loss when one is given: the same accuracy at a lower loss counts as an
    improvement. The weights of the best epoch are kept in memory and :meth:`restore` puts
    them back, so the model handed on is the best one seen, not the last one trained.
    """

    def __init__(
        self, patience: int | None, min_delta: float = 0.0, mode: Literal["max", "min"] = "max"
    ) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.mode = mode
        self.best_value_: float | None = None
        self.best_epoch_: int | None = None
        self.best_state_: dict[str, torch.Tensor] | None = None
        self.best_loss_: float | None = None
        self.bad_epochs_ = 0

    def _improves(self, value: float, loss: float | None) -> bool:
        if self.best_value_ is None:
            return True
        if self.mode == "max":
            better = value > self.best_value_ + self.min_delta
        else:
            better = value < self.best_value_ - self.min_delta
        tie = value == self.best_value_ and loss is not None and self.best_loss_ is not None
        return better or (tie and loss < self.best_loss_)  # type: ignore[operator]

    def update(self, value: float, epoch: int, model: nn.Module, loss: float | None = None) -> bool:
        """Record one epoch's metric (and validation loss); return True when training should
        stop."""
        if self._improves(value, loss):
            self.best_value_ = value
            self.best_loss_ = loss
            self.best_epoch_ = epoch
            self.best_state_ = copy.deepcopy(model.state_dict())
            self.bad_epochs_ = 0
            return False
        self.bad_epochs_ += 1
        return self.patience is not None and self.bad_epochs_ >= self.patience

    def restore(self, model: nn.Module) -> None:
        if self.best_state_ is not None:
            model.load_state_dict(self.best_state_)
