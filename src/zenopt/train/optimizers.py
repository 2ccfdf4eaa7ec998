"""Optimizers and learning-rate schedules from the ``train`` config section."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from zenopt.core.config import TrainConfig

__all__ = ["build_optimizer", "build_scheduler"]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.RMSprop(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, mode: Literal["min", "max"]
) -> Any | None:
    """Cosine annealing over the epochs, or reduce-on-plateau on the validation metric."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "plateau":
        patience = max(1, (config.patience or 4) // 2)
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=0.5, patience=patience
        )
    return None
