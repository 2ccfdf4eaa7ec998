"""The flow's first box: load the data, check it, de-duplicate, split, and fit the
preprocessing on the training split only. Everything here fails before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

from zenopt.core.config import RunConfig
from zenopt.data import Dataset, load_dataset, split_dataset
from zenopt.data.checks import check_data_options
from zenopt.data.prepare import Prepared, prepare
from zenopt.evaluate.requirements import validate_requirements

__all__ = ["DataStage", "prepare_data"]


@dataclass(frozen=True)
class DataStage:
    dataset: Dataset
    prepared: Prepared
    duplicates: int


def prepare_data(config: RunConfig) -> DataStage:
    """Load, check, de-duplicate (before the split), split and fit preprocessing on train."""
    dataset = load_dataset(config.data)
    duplicates = dataset.duplicate_rows()
    if config.data.drop_duplicates:  # before the split, so no row sits in train and test
        dataset, _ = dataset.without_duplicates()
    validate_requirements(config.requirements, dataset.task, config.bench.backends)
    splits = split_dataset(
        dataset, config.data.val_fraction, config.data.test_fraction, config.seed
    )
    check_data_options(config.data, dataset, splits.train.y)
    return DataStage(dataset, prepare(dataset, splits, config.data, config.seed), duplicates)
