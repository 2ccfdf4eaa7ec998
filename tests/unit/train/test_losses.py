from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from zenopt.core.config import TrainConfig
from zenopt.core.errors import ConfigError
from zenopt.train import fit, penalty, resolve_loss, task_loss


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def _numpy_penalty(model: nn.Module, l1: float, l2: float) -> float:
    weights = [
        p.detach().numpy().astype(np.float64) for n, p in model.named_parameters() if "weight" in n
    ]
    return sum(l1 * np.abs(w).sum() + l2 * (w**2).sum() for w in weights)


@pytest.mark.parametrize(("l1", "l2"), [(0.0, 0.0), (1e-3, 0.0), (0.0, 1e-2), (1e-3, 1e-2)])
def test_penalty_equals_hand_computed_sum_over_weights_only(l1: float, l2: float) -> None:
    model = _net()
    assert float(penalty(model, l1, l2).detach()) == pytest.approx(
        _numpy_penalty(model, l1, l2), rel=1e-6
    )


def test_l2_gradient_is_two_l2_w() -> None:
    model = _net()
    penalty(model, 0.0, 0.5).backward()
    weight = model[0].weight
    torch.testing.assert_close(weight.grad, 2 * 0.5 * weight.detach())
    assert model[0].bias.grad is None  # biases are not penalised


def test_training_loss_carries_the_penalty_by_the_expected_amount() -> None:
    """With a vanishing learning rate the weights stay put, so the recorded penalty is exact."""
    model = _net()
    expected = _numpy_penalty(model, 1e-3, 1e-2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 4)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    config = TrainConfig(
        optimizer="sgd",
        lr=1e-12,
        momentum=0.0,
        epochs=1,
        l1=1e-3,
        l2=1e-2,
        schedule="none",
        batch_size=8,
    )
    result = fit(model, X, y, X, y, config, "cross_entropy", seed=0)
    assert result.history[0].train_penalty == pytest.approx(expected, rel=1e-5)


def test_task_losses_match_torch() -> None:
    logits = torch.tensor([[2.0, 0.5], [0.1, 0.3]])
    target = torch.tensor([0, 1])
    assert float(task_loss(logits, target, "cross_entropy")) == pytest.approx(
        float(nn.CrossEntropyLoss()(logits, target))
    )
    single = torch.tensor([[0.3], [-1.2]])
    assert float(task_loss(single, target, "bce")) == pytest.approx(
        float(nn.BCEWithLogitsLoss()(single.squeeze(1), target.float()))
    )
    assert float(task_loss(single, torch.tensor([1.0, 0.0]), "mse")) == pytest.approx(
        ((0.3 - 1) ** 2 + 1.2**2) / 2
    )


def test_resolve_loss() -> None:
    assert resolve_loss("auto", "binary") == "bce"
    assert resolve_loss("cross_entropy", "binary") == "cross_entropy"
    assert resolve_loss("auto", "regression") == "mse"
    with pytest.raises(ConfigError, match="train.loss='mse' does not fit a multiclass task"):
        resolve_loss("mse", "multiclass")
