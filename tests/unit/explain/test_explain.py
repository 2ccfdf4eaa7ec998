"""Explanations against references: confusions vs scikit-learn, permutation importance of a
model that reads one feature, saliency of a model that looks at one image quadrant."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, recall_score
from torch import nn

from zenopt.explain import confusions, permutation_importances, saliency_maps


def test_confusions_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.8, y_true, rng.integers(0, 4, 200))
    y_pred[:7] = 3
    names = ["a", "b", "c", "d"]
    cm = confusion_matrix(y_true, y_pred, labels=range(4))
    result = confusions(cm.tolist(), names)
    assert result["errors"] == int((y_true != y_pred).sum()) and result["samples"] == 200
    recall = recall_score(y_true, y_pred, average=None, labels=range(4))
    rates = {r["class"]: r["error_rate"] for r in result["per_class"]}
    assert rates == pytest.approx({n: 1 - r for n, r in zip(names, recall, strict=True)})
    off = cm.copy()
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(off.argmax(), off.shape)
    top = result["pairs"][0]
    assert top["count"] == off.max() and (top["true"], top["predicted"]) == (names[i], names[j])
    assert [p["count"] for p in result["pairs"]] == sorted(
        (p["count"] for p in result["pairs"]), reverse=True
    )


class FirstFeature(nn.Module):
    """Class 1 when feature 0 is positive; the other features are ignored."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([-x[:, 0], x[:, 0]], dim=1)


def test_permutation_importance_finds_the_only_feature_used() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    result = permutation_importances(FirstFeature(), "softmax", X, y, ["f0", "f1", "f2"], 4, 0)
    rows = {r["feature"]: r for r in result["features"]}
    assert result["features"][0]["feature"] == "f0"
    assert rows["f0"]["mean"] > 0.3  # shuffling it leaves about chance accuracy
    assert rows["f1"]["mean"] == 0 and rows["f2"]["mean"] == 0  # predictions do not change
    assert result["baseline_score"] == 1.0 and result["repeats"] == 4


def test_permutation_importance_for_regression_is_the_rise_of_mse() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 2)).astype(np.float32)

    class Second(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 3 * x[:, 1:2]

    y = 3 * X[:, 1]
    result = permutation_importances(Second(), "identity", X, y, ["a", "b"], 3, 0)
    assert result["metric"] == "mse" and result["features"][0]["feature"] == "b"
    assert result["features"][0]["mean"] > 1 and result["features"][1]["mean"] == 0


class TopLeft(nn.Module):
    """Logits from the top-left 4×4 quadrant of an 8×8 image only."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x[:, :, :4, :4].reshape(x.shape[0], -1))


def test_saliency_lights_only_the_pixels_the_model_reads() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((12, 1, 8, 8)).astype(np.float32)
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2])
    result = saliency_maps(TopLeft(), "softmax", X, y, ["zero", "one", "two"], count=4)
    items = result["items"]
    assert [it["index"] for it in items] == [0, 3, 6, 1]  # one per class first, then again
    for item in items:
        grid = np.array(item["saliency"])
        assert grid.shape == (8, 8) and grid.max() == 255
        assert (grid[4:, :] == 0).all() and (grid[:, 4:] == 0).all()
        assert (grid[:4, :4] > 0).any()
        assert item["correct"] == (item["true"] == item["predicted"])


def test_large_images_are_pooled_for_the_report() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 100 * 80, 2))
    X = np.random.default_rng(4).standard_normal((2, 3, 100, 80)).astype(np.float32)
    result = saliency_maps(model, "softmax", X, np.array([0, 1]), ["a", "b"], count=2)
    grid = np.array(result["items"][0]["image"])
    assert max(grid.shape) == 64 and grid.shape == (64, 51)
