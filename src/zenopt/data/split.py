"""Seeded train/validation/test split: stratified for classification, grouped by
``data.group``, and taking given validation and test files as they are."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from zenopt.core.errors import DataError
from zenopt.data.dataset import Dataset, Split, Splits

__all__ = ["carve_holdout", "split_dataset"]

TRAIN, VAL, TEST = 0, 1, 2  # Dataset.assigned: the training source, data.val_source, test_source


def split_dataset(dataset: Dataset, val_fraction: float, test_fraction: float, seed: int) -> Splits:
    """Split once into test and the rest, then the rest into train and validation.

    Fractions are of the training source's rows (the whole data set unless a validation or
    test file is given; a given file is that split, whole). Classification splits are
    stratified so that every class keeps its share in each split; with ``data.group`` every
    group lies in one split.
    """
    n = dataset.X.shape[0]
    assigned = dataset.assigned if dataset.assigned is not None else np.zeros(n, np.int8)
    pool = np.flatnonzero(assigned == TRAIN)
    given_val, given_test = np.flatnonzero(assigned == VAL), np.flatnonzero(assigned == TEST)
    stratify = dataset.task != "regression"
    if stratify:
        _check_class_sizes(dataset, pool, 1 + (not given_val.size) + (not given_test.size))
    n_test = 0 if given_test.size else round(len(pool) * test_fraction)
    n_val = 0 if given_val.size else round(len(pool) * val_fraction)
    if (
        len(pool) - n_test - n_val < 2
        or (n_test < 1 and not given_test.size)
        or (n_val < 1 and not given_val.size)
    ):
        raise DataError(
            f"{dataset.name}: {len(pool)} samples are too few for val_fraction={val_fraction} "
            f"and test_fraction={test_fraction}; provide more data"
        )
    rest, test = (pool, given_test) if given_test.size else _carve(dataset, pool, n_test, seed)
    train, val = (rest, given_val) if given_val.size else _carve(dataset, rest, n_val, seed + 1)

    def take(idx: np.ndarray) -> Split:
        idx = np.sort(idx)
        cats = {name: column[idx] for name, column in dataset.categorical.items()}
        groups = None if dataset.groups is None else dataset.groups[idx]
        return Split(dataset.X[idx], dataset.y[idx], idx, cats, groups)

    return Splits(train=take(train), val=take(val), test=take(test))


def _check_class_sizes(dataset: Dataset, pool: np.ndarray, parts: int) -> None:
    counts = np.bincount(dataset.y[pool], minlength=dataset.num_classes)
    present = counts[counts > 0]
    if present.size and int(present.min()) < parts:
        smallest = int(present.min())
        label = dataset.class_names[int(np.argmin(np.where(counts > 0, counts, len(pool) + 1)))]
        sides = {3: "train/validation/test", 2: "train/validation", 1: "training"}[parts]
        raise DataError(
            f"{dataset.name}: class {label!r} has {smallest} sample(s); a stratified {sides} "
            f"split needs at least {parts} per class — add samples or drop it"
        )


def _carve(
    dataset: Dataset, indices: np.ndarray, n_take: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``indices`` split into (rest, taken) with about ``n_take`` rows taken."""
    y = dataset.y[indices] if dataset.task != "regression" else None
    if dataset.groups is None:
        try:
            rest, taken = train_test_split(indices, test_size=n_take, random_state=seed, stratify=y)
        except ValueError as exc:
            raise DataError(f"{dataset.name}: cannot split the data: {exc}") from None
        return rest, taken
    return grouped_carve(indices, n_take, y, dataset.groups[indices], seed)


def grouped_carve(
    indices: np.ndarray, n_take: int, y: np.ndarray | None, groups: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, taken) with every group on one side: scikit-learn's StratifiedGroupKFold (the
    fold nearest ``n_take`` rows) for classes, GroupShuffleSplit for values, or when there are
    too few groups per class to stratify."""
    _, codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    if n_groups < 2:
        raise DataError(
            f"data.group: {n_groups} group(s) in the {len(indices)} rows being split; a grouped "
            "split puts whole groups on each side, so it needs more groups — use a column with more"
        )
    folds = max(2, min(round(len(indices) / max(n_take, 1)), n_groups))
    if y is not None and n_groups >= folds:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():  # "the least populated class has only N members"
            warnings.simplefilter("ignore", UserWarning)
            parts = [taken for _, taken in splitter.split(indices, y, codes)]
        taken = min(parts, key=lambda part: abs(len(part) - n_take))
    else:
        shuffle = GroupShuffleSplit(n_splits=1, test_size=n_take / len(indices), random_state=seed)
        _, taken = next(shuffle.split(indices, groups=codes))
    if taken.size in (0, len(indices)):
        raise DataError(
            f"data.group: cannot split {n_groups} groups into two sides with about {n_take} "
            f"of {len(indices)} rows on one; use a column with more groups"
        )
    mask = np.zeros(len(indices), dtype=bool)
    mask[taken] = True
    return indices[~mask], indices[mask]


def carve_holdout(
    X: np.ndarray,
    y: np.ndarray,
    fraction: float,
    seed: int,
    stratify: bool,
    groups: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split training rows into (rest, holdout), the holdout a seeded ``fraction`` of them
    (at least one row, stratified for classification when every class has two rows; with
    ``groups``, every group on one side).

    Fine-tuning and distillation inside compression candidates stop early on the holdout, so
    that the validation split, which selects between candidates, stays unseen by all of them.
    """
    n = len(X)
    n_holdout = min(n - 1, max(1, round(n * fraction)))
    if groups is not None:
        rest, holdout = grouped_carve(
            np.arange(n), n_holdout, y if stratify else None, groups, seed
        )
    else:
        counts = np.bincount(y) if stratify else np.array([])
        by_class = (
            stratify and counts[counts > 0].min() >= 2 and n_holdout >= np.count_nonzero(counts)
        )
        rest, holdout = train_test_split(
            np.arange(n), test_size=n_holdout, random_state=seed, stratify=y if by_class else None
        )
    rest, holdout = np.sort(rest), np.sort(holdout)
    return (X[rest], y[rest]), (X[holdout], y[holdout])
