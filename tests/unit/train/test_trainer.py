from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from zenopt.core.config import DataConfig, TrainConfig
from zenopt.core.errors import TrainingError
from zenopt.core.records import EpochRecord
from zenopt.data import load_dataset, split_dataset
from zenopt.models import build_model
from zenopt.train import fit
from zenopt.train.trainer import validation_score


def _iris() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ds = load_dataset(DataConfig(source="iris"))
    sp = split_dataset(ds, 0.2, 0.2, 0)
    sc = StandardScaler().fit(sp.train.X)
    return (
        sc.transform(sp.train.X).astype(np.float32),
        sp.train.y,
        sc.transform(sp.val.X).astype(np.float32),
        sp.val.y,
        sc.transform(sp.test.X).astype(np.float32),
        sp.test.y,
    )


def _train(config: TrainConfig, seed: int = 0) -> tuple[torch.nn.Module, object]:
    Xtr, ytr, Xv, yv, _, _ = _iris()
    torch.manual_seed(seed)
    model = build_model("mlp", (4,), 3, {"hidden": [16]})
    return model, fit(model, Xtr, ytr, Xv, yv, config, "cross_entropy", seed)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_each_optimizer_learns_iris(optimizer: str) -> None:
    lr = 0.05 if optimizer == "sgd" else 0.01
    model, _ = _train(
        TrainConfig(
            optimizer=optimizer, lr=lr, epochs=30, patience=None, nesterov=True, batch_size=16
        )
    )
    _, _, _, _, Xt, yt = _iris()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(Xt)).argmax(1).numpy() == yt).mean())
    assert acc >= 0.85


def test_same_seed_same_history() -> None:
    config = TrainConfig(epochs=5, schedule="plateau", batch_size=16)
    _, a = _train(config, seed=3)
    _, b = _train(config, seed=3)
    _, c = _train(config, seed=4)
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]  # type: ignore[attr-defined]
    assert [r.train_loss for r in a.history] != [r.train_loss for r in c.history]  # type: ignore[attr-defined]


def test_model_ends_on_the_best_epoch_not_the_last() -> None:
    # A learning rate this high makes validation accuracy bounce, so training stops after
    # the best epoch; the weights handed back must be that epoch's, not the last one's.
    Xtr, ytr, Xv, yv, _, _ = _iris()
    torch.manual_seed(1)
    model = build_model("mlp", (4,), 3, {"hidden": [16]})
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def snapshot(record: EpochRecord) -> None:
        snapshots[record.epoch] = copy.deepcopy(model.state_dict())

    config = TrainConfig(
        optimizer="sgd", lr=2.0, momentum=0.9, epochs=12, patience=4, schedule="none", batch_size=8
    )
    result = fit(model, Xtr, ytr, Xv, yv, config, "cross_entropy", seed=1, on_epoch=snapshot)
    last = len(result.history)
    assert result.best_epoch < last
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[result.best_epoch][key], rtol=0, atol=0)
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in snapshots[last].items())
    _, score = validation_score(model, torch.from_numpy(Xv), torch.from_numpy(yv), "cross_entropy")
    assert score == result.best_value


def test_divergence_is_a_clear_error() -> None:
    Xtr, ytr, Xv, yv, _, _ = _iris()
    Xtr = Xtr * np.float32(1e38)  # overflows float32 in the first forward pass
    model = build_model("mlp", (4,), 3, {"hidden": [16]})
    with pytest.raises(TrainingError, match="training diverged.*lower train.lr"):
        fit(model, Xtr, ytr, Xv, yv, TrainConfig(epochs=2), "cross_entropy", seed=0)


def test_cosine_schedule_anneals_the_learning_rate() -> None:
    _, result = _train(TrainConfig(epochs=4, schedule="cosine", lr=0.01, patience=None))
    lrs = [r.lr for r in result.history]  # type: ignore[attr-defined]
    assert lrs[0] == pytest.approx(0.01) and lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.01


def test_each_epoch_holds_the_host_lock_shared() -> None:
    import fcntl
    import os

    from zenopt.profile.hostlock import host_lock
    from zenopt.train.losses import task_loss

    path = os.environ["ZENOPT_HOST_LOCK"]  # this test's own (tests/conftest.py)
    seen = []

    def objective(out: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        fd = os.open(path, os.O_RDONLY)  # another process's view: shared, not exclusive
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            seen.append(True)
        finally:
            os.close(fd)
        return task_loss(out, yb, "cross_entropy")

    Xtr, ytr, Xv, yv, _, _ = _iris()
    model = build_model("mlp", (4,), 3, {"hidden": [8]})
    config = TrainConfig(epochs=2, patience=None, batch_size=64)
    fit(model, Xtr, ytr, Xv, yv, config, "cross_entropy", 0, objective=objective)
    assert seen
    assert host_lock(None).stats()["shared"]["acquisitions"] == 2
