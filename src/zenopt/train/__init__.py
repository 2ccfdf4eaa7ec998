"""Training: optimizers and schedules, task losses with explicit L1/L2 penalties, early stopping."""

from zenopt.train.early_stopping import EarlyStopping
from zenopt.train.losses import LossKind, penalty, resolve_loss, task_loss
from zenopt.train.optimizers import build_optimizer, build_scheduler
from zenopt.train.trainer import EpochRecord, TrainResult, fit

__all__ = [
    "EarlyStopping",
    "EpochRecord",
    "LossKind",
    "TrainResult",
    "build_optimizer",
    "build_scheduler",
    "fit",
    "penalty",
    "resolve_loss",
    "task_loss",
]
