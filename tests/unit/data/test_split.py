from __future__ import annotations

import numpy as np
import pytest

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data import Dataset, load_dataset, split_dataset


def test_split_is_a_disjoint_cover_with_requested_sizes() -> None:
    ds = load_dataset(DataConfig(source="wine"))
    splits = split_dataset(ds, 0.15, 0.2, seed=0)
    all_idx = np.concatenate([splits.train.indices, splits.val.indices, splits.test.indices])
    assert sorted(all_idx.tolist()) == list(range(len(ds.y)))
    assert len(splits.test) == round(len(ds.y) * 0.2)
    assert len(splits.val) == round(len(ds.y) * 0.15)
    np.testing.assert_array_equal(splits.test.X, ds.X[splits.test.indices])


def test_split_is_stratified() -> None:
    ds = load_dataset(DataConfig(source="breast_cancer"))
    splits = split_dataset(ds, 0.15, 0.2, seed=1)
    share = ds.y.mean()
    for part in (splits.train, splits.val, splits.test):
        assert part.y.mean() == pytest.approx(share, abs=0.02)


def test_split_depends_on_seed_only() -> None:
    ds = load_dataset(DataConfig(source="iris"))
    a, b = split_dataset(ds, 0.2, 0.2, 5), split_dataset(ds, 0.2, 0.2, 5)
    c = split_dataset(ds, 0.2, 0.2, 6)
    np.testing.assert_array_equal(a.test.indices, b.test.indices)
    assert not np.array_equal(a.test.indices, c.test.indices)


def test_too_small_a_class_is_reported() -> None:
    X = np.zeros((12, 2), np.float32)
    y = np.array([0] * 10 + [1] * 2)
    ds = Dataset("tiny", X, y, "binary", "table", class_names=["no", "yes"])
    with pytest.raises(DataError, match="class 'yes' has 2 sample"):
        split_dataset(ds, 0.2, 0.2, 0)


def test_too_few_samples_for_the_fractions() -> None:
    X = np.zeros((4, 2), np.float32)
    ds = Dataset("tiny", X, np.arange(4, dtype=np.float32), "regression", "table")
    with pytest.raises(DataError, match="too few"):
        split_dataset(ds, 0.4, 0.4, 0)
