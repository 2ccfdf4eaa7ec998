"""Seeded train/validation/test split, stratified for classification."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from zenopt.core.errors import DataError
from zenopt.data.dataset import Dataset, Split, Splits

__all__ = ["carve_holdout", "split_dataset"]


def split_dataset(dataset: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Split once into test and the rest, then the rest into train and validation.

    Fractions are of the whole data set. Classification splits are stratified so that every
    class keeps its share in each split; a class too small for that is reported, not hidden.
    """
    n = dataset.X.shape[0]
    indices = np.arange(n)
    stratify = dataset.task != "regression"
    if stratify:
        counts = np.bincount(dataset.y)
        smallest = int(counts[counts > 0].min())
        if smallest < 3:
            label = dataset.class_names[int(np.argmin(np.where(counts > 0, counts, n + 1)))]
            raise DataError(
                f"{dataset.name}: class {label!r} has {smallest} sample(s); a stratified "
                "train/validation/test split needs at least 3 per class — add samples or drop it"
            )
    n_test = round(n * test_fraction)
    n_val = round(n * val_fraction)
    if n - n_test - n_val < 2 or n_test < 1 or n_val < 1:
        raise DataError(
            f"{dataset.name}: {n} samples are too few for val_fraction={val_fraction} and "
            f"test_fraction={test_fraction}; provide more data"
        )
    try:
        rest, test = train_test_split(
            indices,
            test_size=n_test,
            random_state=seed,
            stratify=dataset.y if stratify else None,
        )
        train, val = train_test_split(
            rest,
            test_size=n_val,
            random_state=seed + 1,
            stratify=dataset.y[rest] if stratify else None,
        )
    except ValueError as exc:
        raise DataError(f"{dataset.name}: cannot split the data: {exc}") from None

    def take(idx: np.ndarray) -> Split:
        idx = np.sort(idx)
        cats = {name: column[idx] for name, column in dataset.categorical.items()}
        return Split(X=dataset.X[idx], y=dataset.y[idx], indices=idx, categorical=cats)

    return Splits(train=take(train), val=take(val), test=take(test))


def carve_holdout(
    X: np.ndarray, y: np.ndarray, fraction: float, seed: int, stratify: bool
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split training rows into (rest, holdout), the holdout a seeded ``fraction`` of them
    (at least one row, stratified for classification when every class has two rows).

    Fine-tuning and distillation inside compression candidates stop early on the holdout, so
    that the validation split, which selects between candidates, stays unseen by all of them.
    """
    n = len(X)
    n_holdout = min(n - 1, max(1, round(n * fraction)))
    counts = np.bincount(y) if stratify else np.array([])
    by_class = stratify and counts[counts > 0].min() >= 2 and n_holdout >= np.count_nonzero(counts)
    rest, holdout = train_test_split(
        np.arange(n), test_size=n_holdout, random_state=seed, stratify=y if by_class else None
    )
    rest, holdout = np.sort(rest), np.sort(holdout)
    return (X[rest], y[rest]), (X[holdout], y[holdout])
