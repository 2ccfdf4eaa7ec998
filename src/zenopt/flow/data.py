"""The flow's first box: load the data, check it, de-duplicate, split, and fit the
preprocessing on the training split only. Everything here fails before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from zenopt.core.config import RunConfig
from zenopt.data import Dataset, split_dataset
from zenopt.data.checks import check_data_options
from zenopt.data.dataset import Split, Splits
from zenopt.data.given import load_run_data
from zenopt.data.prepare import Prepared, prepare
from zenopt.evaluate.requirements import validate_class_targets, validate_requirements

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
    # rows of the validation/test split that repeat a training row exactly
    straddling: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # for the console and the manifest

    def without_test(self) -> DataStage:
        """This data with the test split held out: what a search selects with. Its rows and
        labels are gone from the data set too; touching ``splits.test`` raises."""
        splits = self.prepared.splits
        keep = np.sort(np.concatenate([splits.train.indices, splits.val.indices]))
        held_out = replace(splits, test=cast(Split, _HeldOut(len(splits.test))))
        return replace(
            self, dataset=self.dataset.take(keep), prepared=replace(self.prepared, splits=held_out)
        )


def prepare_data(config: RunConfig) -> DataStage:
    """Load (with any given validation/test file), check, de-duplicate (before the split),
    split and fit preprocessing on train."""
    dataset, notes = load_run_data(config.data)
    duplicates = dataset.duplicate_rows()
    if config.data.drop_duplicates:  # before the split, so no row sits in train and test
        dataset, _ = dataset.without_duplicates()
    validate_requirements(config.requirements, dataset.task, config.bench.backends)
    validate_class_targets(config.requirements, dataset.task, dataset.class_names)
    splits = split_dataset(
        dataset, config.data.val_fraction, config.data.test_fraction, config.seed
    )
    check_data_options(config.data, dataset, splits.train.y)
    straddling = straddling_duplicates(dataset, splits)
    if any(straddling.values()):
        notes.append(straddle_warning(straddling, config.data.group))
    if config.data.group:
        notes += uneven_group_splits(dataset, splits, config)
    prepared = prepare(dataset, splits, config.data, config.seed)
    return DataStage(dataset, prepared, duplicates, straddling, tuple(notes))


def straddling_duplicates(dataset: Dataset, splits: Splits) -> dict[str, int]:
    """Rows of the validation and test splits that repeat a training row exactly."""
    keys = dataset.row_keys()
    train = keys[splits.train.indices]
    return {
        split: int(np.isin(keys[part.indices], train).sum())
        for split, part in (("val", splits.val), ("test", splits.test))
    }


def uneven_group_splits(dataset: Dataset, splits: Splits, config: RunConfig) -> list[str]:
    """Grouped splits carved far from their fractions (a group holding most rows, or too few
    groups): each one's size against the fraction asked, and the fix."""
    pool = int(np.sum(dataset.assigned == 0)) if dataset.assigned is not None else len(dataset.y)
    asked = {"test": config.data.test_fraction, "val": config.data.val_fraction}
    given = {"test": config.data.test_source, "val": config.data.val_source}
    notes = []
    for name, fraction in asked.items():
        rows = len(getattr(splits, name))
        if given[name] or abs(rows - fraction * pool) <= 0.5 * fraction * pool:
            continue
        notes.append(
            f"data.group={config.data.group!r}: the {name} split has {rows} rows "
            f"({rows / pool:.0%}), not the {fraction:.0%} asked, because whole groups were "
            "kept together; its scores are less sure — use a column with more, evener groups"
        )
    return notes


def straddle_warning(straddling: dict[str, int], group: str | None) -> str:
    fix = "data.drop_duplicates=true" + ("" if group else ", or data.group if rows share a source")
    return (
        f"{straddling['test']} test and {straddling['val']} validation rows repeat a training "
        f"row exactly, so their scores flatter the model on new data; set {fix}"
    )
