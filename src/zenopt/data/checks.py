"""Checks of data options against the loaded data, made before anything is written."""

from __future__ import annotations

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import ConfigError
from zenopt.data.dataset import Dataset

__all__ = ["check_data_options"]


def check_data_options(config: DataConfig, dataset: Dataset, train_y: np.ndarray) -> None:
    """Reject options that cannot apply to this data (``train_y``: the training split's
    targets), naming the option and the fix."""
    geometric = [a for a in config.augment if a in ("shift", "rotate")]
    if geometric and dataset.kind != "image":
        raise ConfigError(
            f"data.augment: {geometric[0]!r} moves pixels, but {dataset.name!r} is a table; "
            "use noise or mixup"
        )
    if config.balance != "none" and dataset.task == "regression":
        raise ConfigError(
            f"data.balance={config.balance!r} balances classes, but {dataset.name!r} is a "
            "regression task; remove data.balance"
        )
    if config.balance == "smote":
        if dataset.categorical:
            raise ConfigError(
                "data.balance=smote interpolates between rows, which would invent fractional "
                f"categories for {', '.join(dataset.categorical)}; use data.balance=oversample"
            )
        counts = np.bincount(train_y, minlength=dataset.num_classes)
        if counts.min() < 2:
            label = dataset.class_names[int(np.argmin(counts))]
            raise ConfigError(
                f"data.balance=smote needs at least 2 training rows of every class; class "
                f"{label!r} has {int(counts.min())}; use data.balance=oversample"
            )
