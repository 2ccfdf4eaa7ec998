from __future__ import annotations

import torch
from torch import nn

from zenopt.train import EarlyStopping


def _run(
    values: list[float], patience: int | None, mode: str = "max", min_delta: float = 0.0
) -> tuple[EarlyStopping, int]:
    stopper = EarlyStopping(patience, min_delta, mode)  # type: ignore[arg-type]
    model = nn.Linear(1, 1)
    for epoch, value in enumerate(values, start=1):
        if stopper.update(value, epoch, model):
            return stopper, epoch
    return stopper, len(values)


def test_stops_after_patience_epochs_without_improvement() -> None:
    stopper, stopped = _run([0.5, 0.7, 0.6, 0.65, 0.69, 0.9], patience=3)
    assert stopped == 5 and stopper.best_epoch_ == 2 and stopper.best_value_ == 0.7


def test_min_mode_and_min_delta() -> None:
    stopper, stopped = _run([1.0, 0.95, 0.949, 0.948], patience=2, mode="min", min_delta=0.01)
    assert stopper.best_epoch_ == 2 and stopped == 4


def test_no_patience_never_stops_but_tracks_best() -> None:
    stopper, stopped = _run([0.1, 0.3, 0.2, 0.2, 0.2, 0.2], patience=None)
    assert stopped == 6 and stopper.best_epoch_ == 2


def test_restore_puts_back_the_best_epoch_weights() -> None:
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    best = None
    for epoch, value in enumerate([0.1, 0.9, 0.2, 0.3], start=1):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        if epoch == 2:
            best = model.weight.detach().clone()
        stopper.update(value, epoch, model)
    stopper.restore(model)
    assert best is not None
    torch.testing.assert_close(model.weight.detach(), best)


def test_a_tie_is_broken_by_the_validation_loss() -> None:
    stopper = EarlyStopping(patience=2)
    model = nn.Linear(1, 1)
    history = [(0.9, 0.50), (0.9, 0.40), (0.9, 0.45), (0.9, 0.30), (0.9, 0.35), (0.9, 0.36)]
    stopped = None
    for epoch, (accuracy, loss) in enumerate(history, start=1):
        if stopper.update(accuracy, epoch, model, loss):
            stopped = epoch
            break
    assert stopper.best_epoch_ == 4 and stopped == 6
    # without losses a tie is no improvement: the first epoch stays best
    plain = EarlyStopping(patience=2)
    for epoch, (accuracy, _) in enumerate(history, start=1):
        if plain.update(accuracy, epoch, model):
            break
    assert plain.best_epoch_ == 1
