"""Data stage: sources, checks, the seeded split and preprocessing fitted on the training split."""

from zenopt.data.dataset import Dataset, Split, Splits
from zenopt.data.preprocess import TargetScaler
from zenopt.data.sources import BUNDLED, load_dataset
from zenopt.data.split import split_dataset

__all__ = [
    "BUNDLED",
    "Dataset",
    "Split",
    "Splits",
    "TargetScaler",
    "load_dataset",
    "split_dataset",
]
