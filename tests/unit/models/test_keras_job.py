"""zenopt's side of Keras training, without TensorFlow: which names are Keras factories (read
from the module's source, never run), the ``train`` section mapped to Keras, and the child's
scoring and early-stopping rule against zenopt's own (PyTorch) ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zenopt.core.config import load_config
from zenopt.core.errors import ConfigError
from zenopt.keras_child import rules
from zenopt.models.keras_job import fit_settings, is_keras_factory, keras_input_shape
from zenopt.train.early_stopping import EarlyStopping


def test_a_factory_is_keras_when_its_module_imports_keras_or_is_written_keras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "kmod.py").write_text("import keras\n\ndef f(shape, n):\n    return None\n")
    (tmp_path / "tfmod.py").write_text("from tensorflow import keras as k\n")
    (tmp_path / "tkmod.py").write_text("def g():\n    import tensorflow.keras\n")
    (tmp_path / "tmod.py").write_text("import torch\n\ndef f(shape, n):\n    return None\n")
    (tmp_path / "model.keras").write_text("not read")
    assert is_keras_factory("kmod:f") and is_keras_factory("tfmod:f")
    assert is_keras_factory("tkmod:g")  # an import inside the factory counts
    assert not is_keras_factory("tmod:f") and is_keras_factory("keras:tmod:f")
    assert not is_keras_factory("mlp") and not is_keras_factory("no_such_module:f")
    assert not is_keras_factory(f"keras:{tmp_path / 'model.keras'}")
    assert "kmod" not in sys.modules  # read, not imported
    package = tmp_path / "kpkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "nets.py").write_text("import keras\n")
    assert is_keras_factory("kpkg.nets:f")  # its package is not run either
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmod:f").write_text("a file of that name")
    assert not is_keras_factory("keras:tmod:f")  # a path that exists is a saved model


def test_a_missing_module_or_factory_is_refused_without_tensorflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zenopt.core.errors import ModelError
    from zenopt.models.keras_job import check_factory

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "kdefs.py").write_text(
        "import keras\nfrom keras import layers as L\nnet = None\n\ndef f(s, n):\n    pass\n"
    )
    (tmp_path / "kstar.py").write_text("from keras.layers import *\n")
    for ref in ("kdefs:f", "kdefs:net", "kdefs:L", "kstar:anything"):
        check_factory(ref)  # defined, or cannot tell (a star import)
    with pytest.raises(ModelError, match=r"module 'kdefs' has no callable 'g'$"):
        check_factory("kdefs:g")
    with pytest.raises(ModelError, match=r"has no callable 'ff'; did you mean 'f'\?$"):
        check_factory("kdefs:ff")
    with pytest.raises(ModelError, match=r"cannot import module 'nowhere_mod'"):
        check_factory("nowhere_mod:f")


def test_images_are_asked_for_channels_last() -> None:
    assert keras_input_shape((1, 28, 28)) == (28, 28, 1)
    assert keras_input_shape((30,)) == (30,)


def test_the_train_section_maps_across_and_augmentation_is_refused() -> None:
    config = load_config(None, ["model.name=keras:m:f", "train.optimizer=rmsprop",
                                "train.lr=0.01", "train.patience=6", "train.l1=0.001",
                                "train.schedule=plateau", "seed=3"])  # fmt: skip
    settings = fit_settings(config)
    assert settings["optimizer"] == "rmsprop" and settings["lr"] == 0.01
    assert settings["plateau_patience"] == 3  # PyTorch's: half the early-stopping patience
    assert settings["l1"] == 0.001 and settings["seed"] == 3
    refused = load_config(None, ["model.name=keras:m:f", "data.augment=[shift, noise]"])
    with pytest.raises(ConfigError, match=r"data.augment=\['shift', 'noise'\]: .* Keras"):
        fit_settings(refused)


@pytest.mark.parametrize("maximize", [True, False])
def test_the_childs_early_stopping_keeps_zenopts_rule(maximize: bool) -> None:
    """Against ``EarlyStopping`` itself: the same best epoch and the same stop, on metrics
    with ties (broken by the loss) and a min_delta."""
    rng = np.random.default_rng(int(maximize))

    class Weights:
        def get_weights(self) -> list[int]:
            return []

    net = torch.nn.Linear(1, 1)
    for _ in range(20):
        metrics = np.round(rng.uniform(0.8, 0.9, size=15), 2).tolist()
        losses = rng.uniform(0.1, 0.5, size=15).tolist()
        mode = "max" if maximize else "min"
        ours, child = EarlyStopping(3, 0.01, mode), rules.Best(3, 0.01, maximize)
        for epoch, (value, loss) in enumerate(zip(metrics, losses, strict=True), start=1):
            tie = loss if maximize else None  # zenopt's loop passes no loss for MSE
            stop = ours.update(value, epoch, net, tie)
            assert child.update(value, tie, epoch, Weights()) == stop
            assert child.epoch == ours.best_epoch_
            if stop:
                break


def test_the_childs_validation_scores_are_pytorchs_losses() -> None:
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(50, 4)), rng.integers(0, 4, 50)
    loss, accuracy = rules.score(logits, y, "cross_entropy")
    want = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y))
    assert loss == pytest.approx(float(want)) and accuracy == np.mean(logits.argmax(1) == y)
    z, yb = rng.normal(size=(50, 1)) * 3, rng.integers(0, 2, 50)
    want = F.binary_cross_entropy_with_logits(torch.from_numpy(z[:, 0]), torch.from_numpy(yb * 1.0))
    assert rules.score(z, yb, "bce")[0] == pytest.approx(float(want))
    values = rng.normal(size=50)
    mse = float(np.mean((values - y) ** 2))
    assert rules.score(values[:, None], y, "mse") == pytest.approx((mse, mse))


def test_probabilities_become_logits_that_give_them_back() -> None:
    rng = np.random.default_rng(1)
    p = torch.softmax(torch.from_numpy(rng.normal(size=(20, 5))), dim=1).numpy()
    back = torch.softmax(torch.from_numpy(rules.to_logits(p, True, "cross_entropy")), dim=1)
    assert np.allclose(back.numpy(), p, atol=1e-9)
    q = rng.uniform(0.01, 0.99, size=(20, 1))
    assert np.allclose(torch.sigmoid(torch.from_numpy(rules.to_logits(q, True, "bce"))), q)
    assert np.array_equal(rules.to_logits(q, False, "bce"), q)


def test_the_childs_schedules_are_pytorchs() -> None:
    """Cosine and plateau against ``CosineAnnealingLR`` and ``ReduceLROnPlateau`` as
    ``zenopt.train.optimizers.build_scheduler`` sets them."""
    from zenopt.core.config import TrainConfig
    from zenopt.train.optimizers import build_scheduler

    rng = np.random.default_rng(2)
    for schedule, mode in (("cosine", "max"), ("plateau", "max"), ("plateau", "min")):
        config = TrainConfig(lr=0.01, epochs=12, schedule=schedule, patience=4)
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
        scheduler = build_scheduler(optimizer, config, mode)  # type: ignore[arg-type]
        plateau, lr = rules.Plateau(max(1, 4 // 2), mode == "max"), config.lr
        for epoch in range(config.epochs):
            if schedule == "cosine":
                assert rules.cosine_lr(config.lr, epoch, config.epochs) == pytest.approx(
                    optimizer.param_groups[0]["lr"]
                )
                optimizer.step()
                scheduler.step()
                continue
            metric = float(np.round(rng.uniform(0.5, 0.6), 2))
            lr = plateau.step(metric, lr)
            optimizer.step()
            scheduler.step(metric)
            assert lr == pytest.approx(optimizer.param_groups[0]["lr"]), epoch


def test_the_child_is_stopped_and_its_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_keras_job`` with stand-in children: a pruned trial stops its child at once, a
    failure gives the child's last stderr line, a killed child says so."""
    import time

    from zenopt.core.errors import ModelError
    from zenopt.models import keras_job

    scripts = {
        "epochs": "print('noise'); print('ZENOPT {\"epoch\": 1}', flush=True); "
        "import time; time.sleep(60)",
        "fails": "import sys; print('a warning', file=sys.stderr); "
        "print('model m: ValueError: bad', file=sys.stderr); sys.exit(2)",
        "killed": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
    }
    for name, script in scripts.items():
        monkeypatch.setattr(keras_job, "_command", lambda _, s=script: [sys.executable, "-c", s])
        (tmp_path / name).mkdir()
        job = {"name": "m", "out": str(tmp_path / name)}
        seen: list[dict[str, object]] = []

        def pruned(fields: dict[str, object], seen: list[dict[str, object]] = seen) -> None:
            seen.append(fields)
            raise KeyboardInterrupt

        started = time.monotonic()
        if name == "epochs":
            with pytest.raises(KeyboardInterrupt):
                keras_job.run_keras_job(job, pruned)
            assert seen == [{"epoch": 1}] and time.monotonic() - started < 30
        elif name == "fails":
            with pytest.raises(ModelError, match=r"^model m: ValueError: bad$"):
                keras_job.run_keras_job(job)
        else:
            with pytest.raises(ModelError, match="killed by signal 9"):
                keras_job.run_keras_job(job)
