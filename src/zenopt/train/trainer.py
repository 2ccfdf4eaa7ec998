"""The training loop: in-memory tensors, seeded shuffling, early stopping, per-epoch history."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch import nn

from zenopt.core.config import TrainConfig
from zenopt.core.errors import TrainingError
from zenopt.core.records import EpochRecord
from zenopt.profile.hostlock import training_epoch
from zenopt.train.early_stopping import EarlyStopping
from zenopt.train.losses import LossKind, penalty, task_loss
from zenopt.train.optimizers import build_optimizer, build_scheduler

__all__ = ["Augmenter", "EpochRecord", "Objective", "TrainResult", "fit", "validation_score"]


class Augmenter(Protocol):
    """What the loop needs of an augmentation (``zenopt.data.augment.BatchAugmenter``)."""

    @property
    def mixes(self) -> bool: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def mix(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]: ...


Objective = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    monitor: str = "val_accuracy"
    best_epoch: int = 0
    best_value: float = 0.0
    stopped_early: bool = False
    train_samples_per_s: float = 0.0
    loader_samples_per_s: float = 0.0  # batches served (slice + augmentation) per second
    step_samples_per_s: float = 0.0  # forward + backward + optimizer step, per second
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best_epoch": self.best_epoch,
            "best_value": self.best_value,
            "stopped_early": self.stopped_early,
            "epochs_run": len(self.history),
            "train_samples_per_s": self.train_samples_per_s,
            "loader_samples_per_s": self.loader_samples_per_s,
            "step_samples_per_s": self.step_samples_per_s,
            "seconds": self.seconds,
            "history": [r.to_dict() for r in self.history],
        }


def validation_score(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, loss: LossKind, batch: int = 512
) -> tuple[float, float]:
    """Mean task loss and the monitored metric (accuracy, or MSE for regression)."""
    model.eval()
    losses, correct = [], 0
    with torch.no_grad():
        for start in range(0, X.shape[0], batch):
            xb, yb = X[start : start + batch], y[start : start + batch]
            out = model(xb)
            losses.append(float(task_loss(out, yb, loss)) * xb.shape[0])
            if loss == "cross_entropy":
                correct += int((out.argmax(1) == yb).sum())
            elif loss == "bce":
                correct += int(((out.squeeze(1) > 0).long() == yb).sum())
    mean_loss = sum(losses) / X.shape[0]
    if loss == "mse":
        return mean_loss, mean_loss
    return mean_loss, correct / X.shape[0]


def fit(
    model: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    config: TrainConfig,
    loss: LossKind,
    seed: int,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    class_weights: np.ndarray | None = None,
    augmenter: Augmenter | None = None,
    objective: Objective | None = None,
) -> TrainResult:
    """Train ``model`` in place and leave it holding the best validation epoch's weights.

    ``objective(outputs, inputs, targets)`` replaces the task loss when given (distillation
    adds the teacher's softened outputs there); validation always uses the task metric."""
    # 1. Tensors are prepared once; a batch is an index slice, with no per-sample Python work.
    Xt, yt = torch.from_numpy(X_train), torch.from_numpy(y_train)
    Xv, yv = torch.from_numpy(X_val), torch.from_numpy(y_val)
    generator = torch.Generator().manual_seed(seed)
    weights = None if class_weights is None else torch.from_numpy(class_weights)
    mode: Literal["min", "max"] = "min" if loss == "mse" else "max"
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, mode)
    stopper = EarlyStopping(config.patience, config.min_delta, mode)
    # Regression trains on a standardised target, so its validation MSE is in those units.
    result = TrainResult(monitor="val_mse_standardised" if loss == "mse" else "val_accuracy")
    n = Xt.shape[0]
    seen, train_time, loader_time = 0, 0.0, 0.0
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        # 2. One pass over a seeded permutation of the training split, and its validation,
        #    holding the host lock shared: a timing on this host waits for the epoch to end,
        #    and while one waits no new epoch starts (zenopt.profile.hostlock).
        with training_epoch():
            model.train()
            tick = time.perf_counter()
            order = torch.randperm(n, generator=generator)
            total_loss, total_penalty = 0.0, 0.0
            for start in range(0, n, config.batch_size):
                # The "loader": an index slice of the prepared tensors (+ on-the-fly augmentation),
                # timed apart from the step so the manifest shows whether training waits on data.
                fetch = time.perf_counter()
                idx = order[start : start + config.batch_size]
                xb, yb = Xt[idx], yt[idx]
                if augmenter is not None:
                    xb = augmenter(xb)
                loader_time += time.perf_counter() - fetch
                optimizer.zero_grad(set_to_none=True)
                if objective is not None:
                    data_loss = objective(model(xb), xb, yb)
                elif augmenter is not None and augmenter.mixes:
                    xb, perm, lam = augmenter.mix(xb)
                    out = model(xb)
                    data_loss = lam * task_loss(out, yb, loss, weights) + (1.0 - lam) * task_loss(
                        out, yb[perm], loss, weights
                    )
                else:
                    data_loss = task_loss(model(xb), yb, loss, weights)
                reg = penalty(model, config.l1, config.l2)
                if not torch.isfinite(data_loss):
                    value = float(data_loss.detach())
                    raise TrainingError(
                        f"training diverged: the loss became {value} in epoch {epoch}; "
                        f"lower train.lr (now {config.lr}) or check the data for extreme values"
                    )
                (data_loss + reg).backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                total_loss += float(data_loss.detach()) * xb.shape[0]
                total_penalty += float(reg.detach()) * xb.shape[0]
            epoch_seconds = time.perf_counter() - tick
            train_time += epoch_seconds
            seen += n
            # 3. Validate, then let the schedule and early stopping see the monitored metric.
            val_loss, val_metric = validation_score(model, Xv, yv, loss)
        lr = float(optimizer.param_groups[0]["lr"])
        record = EpochRecord(
            epoch, total_loss / n, total_penalty / n, val_loss, val_metric, lr, epoch_seconds
        )
        result.history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_metric)
        elif scheduler is not None:
            scheduler.step()
        if stopper.update(val_metric, epoch, model, None if loss == "mse" else val_loss):
            result.stopped_early = epoch < config.epochs
            break
    # 4. Hand on the best epoch's weights, not the last epoch's.
    stopper.restore(model)
    model.eval()
    result.best_epoch = int(stopper.best_epoch_ or len(result.history))
    result.best_value = float(stopper.best_value_ if stopper.best_value_ is not None else 0.0)
    result.train_samples_per_s = seen / train_time if train_time > 0 else 0.0
    step_time = train_time - loader_time
    result.loader_samples_per_s = seen / loader_time if loader_time > 0 else 0.0
    result.step_samples_per_s = seen / step_time if step_time > 0 else 0.0
    result.seconds = time.perf_counter() - started
    return result
