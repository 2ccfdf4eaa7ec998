"""Task losses and the explicit L1/L2 penalty terms.

The penalties are added to the loss (``l1 * Σ|w| + l2 * Σw²`` over the weight matrices and
kernels of the model, biases excluded), so they act with every optimizer. This is distinct from
``train.weight_decay``, which is the optimizer's own decay — coupled to the gradient for SGD,
Adam and RMSprop, decoupled for AdamW.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from zenopt.core.errors import ConfigError

__all__ = [
    "HEADS",
    "HEAD_LOSS",
    "LossKind",
    "num_outputs_for",
    "penalty",
    "resolve_loss",
    "task_loss",
]

LossKind = Literal["cross_entropy", "bce", "mse"]

_ALLOWED: dict[str, tuple[LossKind, ...]] = {
    "binary": ("bce", "cross_entropy"),
    "multiclass": ("cross_entropy",),
    "regression": ("mse",),
}


# The head that turns a loss's raw outputs into predictions, and back (a model that arrives
# trained has a head; its fine-tuning takes that head's loss).
HEADS: dict[str, str] = {"cross_entropy": "softmax", "bce": "sigmoid", "mse": "identity"}
HEAD_LOSS: dict[str, str] = {head: loss for loss, head in HEADS.items()}


def resolve_loss(requested: str, task: str) -> LossKind:
    """Pick the loss for the task; ``auto`` takes the first allowed one."""
    allowed = _ALLOWED[task]
    if requested == "auto":
        return allowed[0]
    if requested not in allowed:
        raise ConfigError(
            f"train.loss={requested!r} does not fit a {task} task; use one of: "
            f"{', '.join(allowed)} (or auto)"
        )
    return requested  # type: ignore[return-value]


def num_outputs_for(loss: LossKind, num_classes: int) -> int:
    if loss == "cross_entropy":
        return num_classes
    return 1


def task_loss(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    loss: LossKind,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The task's loss; ``class_weights`` (one per class) re-weights classification losses."""
    if loss == "cross_entropy":
        return F.cross_entropy(outputs, targets, weight=class_weights)
    if loss == "bce":
        weight = None if class_weights is None else class_weights[targets]
        return F.binary_cross_entropy_with_logits(
            outputs.squeeze(1), targets.float(), weight=weight
        )
    return F.mse_loss(outputs.squeeze(1), targets)


def penalized_parameters(model: nn.Module) -> list[torch.Tensor]:
    """Weight matrices and kernels (ndim > 1); biases and norm scales are left alone."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim > 1]


def penalty(model: nn.Module, l1: float, l2: float) -> torch.Tensor:
    """``l1 * Σ|w| + l2 * Σw²`` over :func:`penalized_parameters`."""
    total = torch.zeros(())
    if l1 == 0.0 and l2 == 0.0:
        return total
    for weight in penalized_parameters(model):
        if l1:
            total = total + l1 * weight.abs().sum()
        if l2:
            total = total + l2 * weight.pow(2).sum()
    return total
