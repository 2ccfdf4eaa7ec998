"""What a selection sees: no test split at all, and a fine-tuning holdout carved from the
training split, never the validation split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from zenopt.core.config import load_config
from zenopt.data.split import carve_holdout
from zenopt.flow import RunContext
from zenopt.flow.compress import make_context
from zenopt.flow.data import HeldOutError, prepare_data


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    config = load_config(None, ["data.source=wine", "model.name=mlp", "train.epochs=2"])
    folder = tmp_path_factory.mktemp("run")
    return RunContext(config, prepare_data(config), folder, Console(quiet=True), quiet=True)


def test_a_selection_context_holds_no_test_rows_or_labels(ctx: RunContext) -> None:
    selection = ctx.selection()
    with pytest.raises(HeldOutError, match="held out from every selection"):
        _ = selection.splits.test.X
    with pytest.raises(HeldOutError):
        _ = selection.splits.test.y
    splits = ctx.splits
    assert len(selection.splits.test) == len(splits.test)  # its size only
    assert selection.splits.sizes() == splits.sizes()
    # The data set keeps the training and validation rows only, in their original order.
    kept = np.sort(np.concatenate([splits.train.indices, splits.val.indices]))
    np.testing.assert_array_equal(selection.data.dataset.y, ctx.data.dataset.y[kept])
    assert len(selection.data.dataset.y) == len(splits.train) + len(splits.val)
    np.testing.assert_array_equal(selection.splits.val.X, splits.val.X)


def test_techniques_get_the_training_rows_and_a_holdout_of_them(
    ctx: RunContext, tmp_path: Path
) -> None:
    from zenopt.flow.train import build, train

    net, _ = build(ctx.config, ctx.data.dataset, ctx.data.prepared)
    model, _, _ = train(ctx.config, ctx.data.dataset, ctx.data.prepared, net)
    context = make_context(ctx.config, ctx.data, model, tmp_path)
    train_rows = ctx.splits.train.X
    both = np.concatenate([context.X_train, context.X_holdout])
    assert len(both) == len(train_rows)
    # Every row a technique sees is a training row; none is a validation or test row.
    seen = {row.tobytes() for row in both}
    assert seen == {row.tobytes() for row in train_rows}
    for other in (ctx.splits.val.X, ctx.splits.test.X):
        assert not seen & {row.tobytes() for row in other}
    assert len(context.X_holdout) == round(len(train_rows) * ctx.config.compress.finetune_holdout)


@pytest.mark.parametrize("fraction", [0.1, 0.25])
def test_the_holdout_is_stratified_seeded_and_disjoint(fraction: float) -> None:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), [40, 40, 80, 160])
    X = rng.normal(size=(len(y), 3)).astype(np.float32)
    (X_fit, y_fit), (X_out, y_out) = carve_holdout(X, y, fraction, 7, stratify=True)
    assert len(y_out) == round(len(y) * fraction) and len(y_fit) + len(y_out) == len(y)
    # Each class keeps its share in the holdout (within one row).
    for label, count in zip(*np.unique(y, return_counts=True), strict=True):
        assert abs(np.sum(y_out == label) - count * fraction) <= 1
    again = carve_holdout(X, y, fraction, 7, stratify=True)
    np.testing.assert_array_equal(again[1][0], X_out)
    rows = {r.tobytes() for r in X_fit}
    assert not rows & {r.tobytes() for r in X_out}


def test_a_class_with_one_training_row_still_gets_a_holdout() -> None:
    y = np.array([0] * 30 + [1])
    X = np.arange(31, dtype=np.float32).reshape(-1, 1)
    (_, y_fit), (_, y_out) = carve_holdout(X, y, 0.1, 0, stratify=True)
    assert len(y_out) == 3 and len(y_fit) == 28
