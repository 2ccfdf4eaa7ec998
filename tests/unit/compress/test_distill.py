"""The distillation loss against a NumPy reference, and distillation helping a pruned net."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from zenopt.compress import apply_plan, parse_plan
from zenopt.compress.distill import distillation_loss
from zenopt.core.errors import ConfigError
from zenopt.testing import TrainedModel


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.mark.parametrize(("temperature", "alpha"), [(1.0, 0.5), (4.0, 0.7), (2.0, 1.0), (3.0, 0.0)])
def test_cross_entropy_distillation_matches_numpy(temperature: float, alpha: float) -> None:
    rng = np.random.default_rng(0)
    student = rng.normal(size=(16, 5)).astype(np.float32)
    teacher = rng.normal(size=(16, 5)).astype(np.float32) * 3
    target = rng.integers(0, 5, 16)
    got = distillation_loss(
        torch.from_numpy(student),
        torch.from_numpy(teacher),
        torch.from_numpy(target),
        "cross_entropy",
        temperature,
        alpha,
    )
    log_p_t = _log_softmax(teacher / temperature)
    log_p_s = _log_softmax(student / temperature)
    kl = (np.exp(log_p_t) * (log_p_t - log_p_s)).sum(axis=1).mean() * temperature**2
    ce = -_log_softmax(student)[np.arange(16), target].mean()
    assert float(got) == pytest.approx(alpha * kl + (1 - alpha) * ce, rel=1e-5)


def test_regression_distillation_matches_the_teacher() -> None:
    student, teacher = torch.tensor([[1.0], [2.0]]), torch.tensor([[2.0], [2.0]])
    target = torch.tensor([1.0, 2.0])
    got = distillation_loss(student, teacher, target, "mse", 4.0, 1.0)
    assert float(got) == pytest.approx(0.5)  # mean of (1 - 2)² and 0


def test_identical_student_and_teacher_have_no_soft_loss() -> None:
    logits = torch.randn(8, 3)
    got = distillation_loss(
        logits, logits, torch.zeros(8, dtype=torch.long), "cross_entropy", 4.0, 1.0
    )
    assert float(got) == pytest.approx(0.0, abs=1e-6)


def _iris(tmp_path: Path) -> tuple[Any, ...]:
    from zenopt.core.config import load_config
    from zenopt.flow.compress import make_context
    from zenopt.flow.data import prepare_data
    from zenopt.flow.train import build, train

    config = load_config(None, ["data.source=iris", "model.name=mlp", "train.epochs=3"])
    stage = prepare_data(config)
    net, spec = build(config, stage.dataset, stage.prepared)
    model, _, _ = train(config, stage.dataset, stage.prepared, net)
    return model, spec, make_context(config, stage, model, tmp_path)


def test_tables_are_not_shifted_or_rotated(tmp_path: Path) -> None:
    model, spec, ctx = _iris(tmp_path)
    state = apply_plan(parse_plan("distill(epochs=1)"), model, spec, ctx)
    assert state.notes[-1]["augment"] == []  # auto: nothing for tables
    with pytest.raises(ConfigError, match="shift and rotate need image inputs"):
        apply_plan(parse_plan("distill(epochs=1, augment=[shift])"), model, spec, ctx)
    state = apply_plan(parse_plan("distill(epochs=1, augment=[noise])"), model, spec, ctx)
    assert state.notes[-1]["augment"] == ["noise"]


def test_distillation_augments_as_the_run_does_unless_a_plan_asks(
    trained: TrainedModel, tmp_path: Path
) -> None:
    """``auto``: the run's own augmentation (none here), as every fine-tuning step; a plan may
    still ask for the teacher to label shifted and rotated images."""
    from zenopt.flow.compress import make_context

    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    assert trained.config.data.augment == []
    state = apply_plan(parse_plan("distill(epochs=1)"), trained.model, trained.spec, ctx)
    assert state.notes[-1]["augment"] == []
    asked = parse_plan("distill(epochs=1, augment=[shift, rotate])")
    state = apply_plan(asked, trained.model, trained.spec, ctx)
    assert state.notes[-1]["augment"] == ["shift", "rotate"]
    augmenting = trained.config.model_copy(deep=True)
    augmenting.data.augment = ["noise"]
    ctx = make_context(augmenting, trained.stage, trained.model, tmp_path / "noise")
    state = apply_plan(parse_plan("distill(epochs=1)"), trained.model, trained.spec, ctx)
    assert state.notes[-1]["augment"] == ["noise"]
