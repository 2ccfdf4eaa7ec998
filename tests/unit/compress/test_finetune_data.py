"""Fine-tuning inside a candidate treats the data as the run did: its class balancing and its
augmentation, and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zenopt.compress._base as base
from zenopt.compress import apply_plan, parse_plan
from zenopt.core.config import load_config
from zenopt.data.balance import class_weights
from zenopt.flow.compress import make_context
from zenopt.flow.data import prepare_data
from zenopt.flow.train import build, train


def _fits(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call of the trainer fine-tuning makes, with what it was given."""
    calls: list[dict[str, Any]] = []
    real = base.fit

    def spy(*args: Any, **kwargs: Any) -> Any:
        names = ["net", "X_train", "y_train", "X_val", "y_val", "config", "loss", "seed"]
        names += ["on_epoch", "class_weights"]
        calls.append({**dict(zip(names, args, strict=False)), **kwargs})
        return real(*args, **kwargs)

    monkeypatch.setattr(base, "fit", spy)
    return calls


def _run(tmp_path: Path, *sets: str) -> tuple[Any, ...]:
    config = load_config(
        None, ["data.source=breast_cancer", "model.name=mlp", "train.epochs=2", *sets]
    )
    stage = prepare_data(config)
    net, spec = build(config, stage.dataset, stage.prepared)
    model, _, _ = train(config, stage.dataset, stage.prepared, net)
    return config, stage, model, spec, make_context(config, stage, model, tmp_path)


@pytest.mark.parametrize("plan", ["prune(ratio=0.5, epochs=1, round_to=8)", "distill(epochs=1)"])
def test_fine_tuning_uses_the_run_s_class_weights_and_augmentation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: str
) -> None:
    calls = _fits(monkeypatch)
    _, stage, model, spec, ctx = _run(tmp_path, "data.balance=class_weight", "data.augment=[noise]")
    apply_plan(parse_plan(plan), model, spec, ctx)
    (call,) = calls
    expected = class_weights(ctx.y_train, stage.dataset.num_classes)
    np.testing.assert_allclose(call["class_weights"], expected)
    assert call["augmenter"] is not None and call["augmenter"].methods == ["noise"]
    assert len(call["y_train"]) == len(ctx.y_train)  # weights, not resampling


def test_fine_tuning_adds_nothing_the_run_did_not_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fits(monkeypatch)
    _, _, model, spec, ctx = _run(tmp_path)
    apply_plan(
        parse_plan("prune(ratio=0.5, epochs=1, round_to=8) -> distill(epochs=1)"), model, spec, ctx
    )
    assert len(calls) == 2
    assert all(c["class_weights"] is None and c["augmenter"] is None for c in calls)


def test_oversampling_resamples_the_fine_tuning_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fits(monkeypatch)
    _, stage, model, spec, ctx = _run(tmp_path, "data.balance=oversample")
    apply_plan(parse_plan("prune(ratio=0.5, epochs=1, round_to=8)"), model, spec, ctx)
    counts = np.bincount(calls[0]["y_train"], minlength=stage.dataset.num_classes)
    assert counts.min() == counts.max() == np.bincount(ctx.y_train).max()
