"""The flow's first box: load the data, check it, de-duplicate, split, and fit the
preprocessing on the training split only. Everything here fails before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from zenopt.core.config import RunConfig
from zenopt.data import Dataset, load_dataset, split_dataset
from zenopt.data.checks import check_data_options
from zenopt.data.dataset import Split
from zenopt.data.prepare import Prepared, prepare
from zenopt.evaluate.requirements import validate_requirements

__all__ = ["DataStage", "HeldOutError", "prepare_data"]


class HeldOutError(RuntimeError):
    """Code that selects between models touched the test split."""


class _HeldOut:
    """The test split as a selection sees it: its size, and nothing else."""

    def __init__(self, rows: int) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return self._rows

    def __getattr__(self, name: str) -> Any:
        raise HeldOutError(
            f"the test split is held out from every selection (asked for test.{name}); "
            "selections use the validation split, and the test split confirms the choice once"
        )


@dataclass(frozen=True)
class DataStage:
    dataset: Dataset
    prepared: Prepared
    duplicates: int

    def without_test(self) -> DataStage:
        """This data with the test split held out: what a search selects with. Its rows and
        labels are gone from the data set too; touching ``splits.test`` raises."""
        splits = self.prepared.splits
        keep = np.sort(np.concatenate([splits.train.indices, splits.val.indices]))
        dataset = self.dataset
        cats = {name: column[keep] for name, column in dataset.categorical.items()}
        selection = replace(dataset, X=dataset.X[keep], y=dataset.y[keep], categorical=cats)
        held_out = replace(splits, test=cast(Split, _HeldOut(len(splits.test))))
        return DataStage(selection, replace(self.prepared, splits=held_out), self.duplicates)


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
