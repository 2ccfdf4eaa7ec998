"""Checks of data options against the loaded data, made before anything is written."""

from __future__ import annotations

from zenopt.core.config import DataConfig
from zenopt.core.errors import ConfigError
from zenopt.data.dataset import Dataset

__all__ = ["check_data_options"]


def check_data_options(config: DataConfig, dataset: Dataset) -> None:
    """Reject options that cannot apply to this data, naming the option and the fix."""
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
