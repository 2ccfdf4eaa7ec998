"""Data stage: sources, checks, the seeded split and preprocessing fitted on the training split.

The names below are imported from their modules on first use, so that code needing one small
module (``zenopt serve``'s encoder) does not import scikit-learn and pandas with the package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zenopt.core.lazy import lazy_names

if TYPE_CHECKING:  # for type checkers: the same names, imported eagerly
    from zenopt.data.dataset import Dataset, Split, Splits
    from zenopt.data.preprocess import TargetScaler
    from zenopt.data.sources import BUNDLED, load_dataset
    from zenopt.data.split import split_dataset

_WHERE = {
    "BUNDLED": "sources",
    "Dataset": "dataset",
    "Split": "dataset",
    "Splits": "dataset",
    "TargetScaler": "preprocess",
    "load_dataset": "sources",
    "split_dataset": "split",
}

__all__ = [
    "BUNDLED",
    "Dataset",
    "Split",
    "Splits",
    "TargetScaler",
    "load_dataset",
    "split_dataset",
]


__getattr__ = lazy_names(__name__, _WHERE)
