"""``model.name: package.module:factory`` returning a ``keras.Model``: zenopt trains it with
Keras's own ``fit`` in a child process, then optimizes its ONNX export. The reference is
Keras itself: the run's quality on its splits must be what the trained ``.keras`` model
predicts on those rows (loaded again by Keras, in another process). Needs the optional extra
(``zenopt[tensorflow]``, which ``make test`` installs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import FAST_BENCH
from tests.keras_models import keras_predict
from typer.testing import CliRunner

from zenopt.cli.app import app

pytest.importorskip("keras")
pytestmark = pytest.mark.slow

FACTORIES = "tests.keras_factories"
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENOPT_CACHE_DIR", str(tmp_path / "cache"))


def _run(out: Path, *settings: str) -> Any:
    args = ["run", "--out", str(out), "--quiet"]
    for item in [*FAST_BENCH, "analysis.explain=false", *settings]:
        args += ["--set", item]
    return CliRunner().invoke(app, args)


def _split(manifest: dict[str, Any], split: str) -> Any:
    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data

    prepared = prepare_data(RunConfig.model_validate(manifest["config"])).prepared
    part = getattr(prepared.splits, split)
    return prepared.model_input(part.X), part.y


def _keras_outputs(manifest: dict[str, Any], split: str, folder: Path) -> Any:
    """What the run's trained Keras model gives on the split's rows, and their labels."""
    X, y = _split(manifest, split)
    if X.ndim == 4:
        X = np.ascontiguousarray(X.transpose(0, 2, 3, 1))  # Keras: channels last
    return keras_predict(Path(manifest["training"]["keras_model"]), X, folder), y


def test_the_keras_example_is_trained_in_keras_measured_as_keras_predicts_and_quantized(
    tmp_path: Path,
) -> None:
    """The documented example (the classic TensorFlow MNIST CNN as a Keras factory), with a
    small budget: 2 epochs at 8×8, and a static INT8 plan instead of the search."""
    from zenopt.models.zoo import tf_cnn
    from zenopt.profile.cost import count_params

    plan = "[{method: quantize, mode: static}]"
    args = ["run", "--config", str(EXAMPLES / "keras_mnist.yaml"), "--out", str(tmp_path / "run"),
            "--quiet"]  # fmt: skip
    for item in [*FAST_BENCH, "analysis.explain=false", "train.epochs=2", "data.resize=8",
                 "train.schedule=plateau", f"compress.plan={plan}"]:  # fmt: skip
        args += ["--set", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    training = manifest["training"]
    assert training["framework"] == "keras" and training["epochs_run"] == 2
    assert [r["epoch"] for r in training["history"]] == [1, 2]
    best = max(training["history"], key=lambda r: (r["val_metric"], -r["val_loss"]))
    assert training["best_epoch"] == best["epoch"]  # zenopt's rule: the best epoch is kept
    assert manifest["model"]["name"] == "onnx" and manifest["model"]["params"]["permute"]
    for split, key in (("val", "validation"), ("test", "trained_test")):
        scores, y = _keras_outputs(manifest, split, tmp_path)
        want = float(np.mean(scores.argmax(axis=1) == y))
        assert manifest["quality"][key]["accuracy"] == pytest.approx(want, abs=1e-9)
    assert best["val_metric"] == pytest.approx(manifest["quality"]["validation"]["accuracy"])
    assert manifest["cost"]["params"] == count_params(tf_cnn((1, 8, 8), 10))  # one network
    candidate = manifest["compress"]["candidate"]
    assert manifest["verdict"]["deployed_model"] == candidate["folder"]
    assert "quantize" in json.dumps(candidate["plan"]) and candidate["onnx_only"]


def test_a_regression_factory_learns_the_standardised_target_and_gives_the_data_units(
    tmp_path: Path,
) -> None:
    result = _run(tmp_path / "run", f"model.name={FACTORIES}:logits_mlp", "data.source=diabetes",
                  "train.epochs=8", "train.optimizer=sgd", "train.weight_decay=0.001")  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    target = manifest["data"]["preprocess"]["target"]
    y_train = _split(manifest, "train")[1]
    assert target["mean"] == pytest.approx(float(np.mean(y_train)))  # standardised training
    values, y = _keras_outputs(manifest, "val", tmp_path)
    mse = float(np.mean((values[:, 0] - y) ** 2))
    assert manifest["quality"]["validation"]["mse"] == pytest.approx(mse, rel=1e-4)
    assert np.std(values) > 0.3 * np.std(y)  # in the target's units, not standardised ones


def test_the_quality_loop_tunes_a_keras_factory_kept_as_its_graph(tmp_path: Path) -> None:
    """Two trials of a model whose SELU zenopt's converter lacks: each trains in Keras with
    the sampled values, reports every epoch, and the chosen one runs as its ONNX graph."""
    space = ('tune.space={"train.lr": {"type": "float", "low": 0.001, "high": 0.03}, '
             '"train.epochs": {"type": "int", "low": 1, "high": 3}}')  # fmt: skip
    result = _run(tmp_path / "run", f"model.name={FACTORIES}:selu_mlp", "data.source=iris",
                  "train.epochs=1", "tune.when=always", "tune.trials=2", space)  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    loop = manifest["tune"]
    trials = loop["trials"]
    assert loop["counts"]["complete"] == 2
    for trial in trials:
        assert trial["epochs_reported"] <= trial["params"]["train.epochs"]
        assert trial["epochs_reported"] >= 1
    assert manifest["model"]["name"] == "onnx_file"
    assert manifest["config"]["bench"]["backends"] == ["onnxruntime"]
    assert "Selu" in manifest["model"]["params"]["reason"]
    best = max(t["value"] for t in trials)
    assert manifest["quality"]["validation"]["accuracy"] == pytest.approx(best)


def test_what_cannot_be_done_is_one_line(tmp_path: Path) -> None:
    for name, extra, phrase in (
        ("examples.keras_mnist:classic_cnn", ["data.augment=[shift]"], "trains in Keras"),
        (f"{FACTORIES}:wrong_width", [], "output shape (4,) per row, expected (3,)"),
        (f"{FACTORIES}:not_a_model", [], "returned object, not a keras.Model"),
        (f"{FACTORIES}:sigmoid_binary", [], "Dense(1, activation='sigmoid'): set train.loss=bce"),
        (f"keras:{FACTORIES}:nowhere", [], "has no callable 'nowhere'"),
        ("mlp", ["train.epochs=0"], "train.epochs=0: model mlp is trained by zenopt"),
    ):
        source = {"classic": "digits", "sigmoid": "breast_cancer"}.get(
            next((k for k in ("classic", "sigmoid") if k in name), ""), "iris"
        )
        result = _run(tmp_path / "refused", f"model.name={name}", f"data.source={source}", *extra)
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.output.strip().splitlines() if line]
        assert len(lines) == 1 and phrase in lines[0], result.output
        assert not (tmp_path / "refused").exists()  # refused before anything is written


_STEPS = """
import json, sys
import numpy as np
import keras
from zenopt.keras_child.fit import _loss, _optimizer, _regularize

job = json.loads(sys.argv[1])
X, y = np.asarray(job["X"], dtype="float32"), np.asarray(job["y"])
found = {}
for settings in job["settings"]:
    model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(3)])
    model.set_weights([np.asarray(w, dtype="float32") for w in job["weights"]])
    _regularize(model, keras, settings)
    model.compile(optimizer=_optimizer(keras, settings), loss=_loss(keras, "cross_entropy",
                  False, False))
    model.fit(X, y, batch_size=len(X), epochs=3, shuffle=False, verbose=0)
    found[settings["optimizer"] + str(settings["momentum"])] = [
        w.tolist() for w in model.get_weights()]
print(json.dumps(found))
"""


def test_the_optimizers_and_penalties_step_as_zenopts_pytorch_loop(tmp_path: Path) -> None:
    """Three full-batch steps of a linear classifier in Keras (the child's optimizer, loss
    and regularizers) against the same steps in PyTorch with zenopt's own optimizer and
    penalty: SGD (momentum, Nesterov), Adam, AdamW and RMSprop, with coupled or decoupled
    weight decay and an L1 and L2 penalty."""
    import os
    import subprocess
    import sys

    import torch
    import torch.nn.functional as F

    from zenopt.core.config import TrainConfig
    from zenopt.train.losses import penalty
    from zenopt.train.optimizers import build_optimizer

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 5)).astype(np.float32), rng.integers(0, 3, 16)
    kernel, bias = rng.normal(size=(5, 3)).astype(np.float32), np.zeros(3, np.float32)
    base = {"lr": 0.05, "nesterov": True, "l1": 0.001, "l2": 0.002, "weight_decay": 0.01}
    settings = [{**base, "optimizer": kind, "momentum": momentum} for kind, momentum in
                (("sgd", 0.9), ("adam", 0.9), ("adamw", 0.9), ("rmsprop", 0.5))]  # fmt: skip
    job = {"X": X.tolist(), "y": y.tolist(), "weights": [kernel.tolist(), bias.tolist()],
           "settings": settings}  # fmt: skip
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", _STEPS, json.dumps(job)], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    for s in settings:
        config = TrainConfig(**{k: s[k] for k in ("optimizer", "lr", "momentum", "nesterov",
                                                   "weight_decay", "l1", "l2")})  # fmt: skip
        linear = torch.nn.Linear(5, 3)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(kernel.T))
            linear.bias.copy_(torch.from_numpy(bias))
        optimizer = build_optimizer(linear, config)
        for _ in range(3):
            optimizer.zero_grad()
            loss = F.cross_entropy(linear(torch.from_numpy(X)), torch.from_numpy(y))
            (loss + penalty(linear, config.l1, config.l2)).backward()
            optimizer.step()
        keras_kernel, keras_bias = (np.asarray(w) for w in found[s["optimizer"] +
                                                                 str(s["momentum"])])  # fmt: skip
        torch_kernel = linear.weight.detach().numpy().T
        assert np.allclose(keras_kernel, torch_kernel, rtol=1e-3, atol=1e-5), s
        assert np.allclose(keras_bias, linear.bias.detach().numpy(), rtol=1e-3, atol=1e-5), s
