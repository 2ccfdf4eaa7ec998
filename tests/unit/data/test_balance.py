from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

from zenopt.core.errors import ConfigError
from zenopt.data.balance import class_weights, resample
from zenopt.train.losses import task_loss


def _imbalanced() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(110, 3)).astype(np.float32)
    y = np.array([0] * 100 + [1] * 10)
    return X, y


def test_class_weights_match_sklearn_balanced() -> None:
    _, y = _imbalanced()
    expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=y)
    np.testing.assert_allclose(class_weights(y, 2), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("method", "counts"),
    [("oversample", [100, 100]), ("undersample", [10, 10]), ("smote", [100, 100])],
)
def test_resampling_balances_the_classes(method: str, counts: list[int]) -> None:
    X, y = _imbalanced()
    Xr, yr = resample(X, y, method, seed=0)
    assert np.bincount(yr).tolist() == counts and Xr.shape == (sum(counts), 3)
    if method == "smote":  # synthetic minority rows lie between real minority rows, per feature
        minority, real = Xr[yr == 1], X[y == 1]
        assert np.all(minority.min(axis=0) >= real.min(axis=0) - 1e-6)
        assert np.all(minority.max(axis=0) <= real.max(axis=0) + 1e-6)


def test_resampling_keeps_image_shape() -> None:
    X = np.zeros((12, 1, 4, 4), np.float32)
    y = np.array([0] * 9 + [1] * 3)
    Xr, yr = resample(X, y, "oversample", 0)
    assert Xr.shape == (18, 1, 4, 4) and np.bincount(yr).tolist() == [9, 9]


def test_smote_needs_two_rows_per_class_and_no_categories() -> None:
    from zenopt.core.config import DataConfig
    from zenopt.data.checks import check_data_options
    from zenopt.data.dataset import Dataset

    X, y = _imbalanced()
    ds = Dataset("d", X, y, "binary", "table", ["a", "b", "c"], ["no", "yes"])
    with pytest.raises(ConfigError, match="class 'yes' has 1; use data.balance=oversample"):
        check_data_options(DataConfig(balance="smote"), ds, y[:101])
    with_text = Dataset(
        "d", X, y, "binary", "table", ["a"], ["no", "yes"], {"c": np.full(110, "x", object)}
    )
    with pytest.raises(ConfigError, match="fractional categories for c"):
        check_data_options(DataConfig(balance="smote"), with_text, y)


def test_weighted_losses_match_torch() -> None:
    logits = torch.tensor([[2.0, 0.5], [0.1, 0.3], [1.0, -1.0]])
    target = torch.tensor([0, 1, 1])
    weights = torch.tensor([0.5, 3.0])
    expected = F.cross_entropy(logits, target, weight=weights)
    torch.testing.assert_close(task_loss(logits, target, "cross_entropy", weights), expected)
    single = torch.tensor([[0.3], [-1.2], [0.8]])
    bce = F.binary_cross_entropy_with_logits(
        single.squeeze(1), target.float(), weight=weights[target]
    )
    torch.testing.assert_close(task_loss(single, target, "bce", weights), bce)
