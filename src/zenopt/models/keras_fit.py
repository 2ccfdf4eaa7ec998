"""The child process that trains a Keras model for zenopt: ``python -m zenopt.models.keras_fit
JOB.json``. It imports TensorFlow and Keras, which zenopt's own process never does.

The job (written by ``keras_train``) names the model (a ``package.module:factory`` to build,
or a saved ``.keras`` file to fine-tune), the data (``.npy`` files of zenopt's prepared
splits, channels first), the loss and the training settings already mapped from the run's
``train`` section. The child trains with Keras's own ``fit`` and reports each epoch as a
line ``ZENOPT {json}`` on stdout, with the validation outputs in a ``.npy`` file (logits for
classification, values for regression), so zenopt scores them with its own metrics and
prunes hopeless trials. It keeps the best validation epoch's weights (zenopt's early-stopping
rule), saves ``model.keras`` and exports ``model.onnx``. With ``probe: true`` it builds the
model, checks its output and exports the untrained model only. A failure is one line on
stderr and exit code 2.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

PROTOCOL = "ZENOPT "


def _say(**fields: Any) -> None:
    print(PROTOCOL + json.dumps(fields), flush=True)


def _fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(2)


def _factory_model(job: dict[str, Any], keras: Any) -> Any:
    import importlib

    ref = job["ref"]
    module_name, _, attr = ref.partition(":")
    if job.get("folder") and job["folder"] not in sys.path:
        sys.path.append(job["folder"])
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        _fail(f"model.name={ref!r}: cannot import module {module_name!r} ({exc}); make it "
              "importable (install it or add its folder to PYTHONPATH)")  # fmt: skip
    factory = getattr(module, attr, None)
    if not callable(factory):
        _fail(f"model.name={ref!r}: module {module_name!r} has no callable {attr!r}")
    shape, params = tuple(job["input_shape"]), job["params"]
    try:
        model = factory(shape, job["num_outputs"], **params)  # type: ignore[misc]
    except Exception as exc:  # the factory's failure is the model's
        _fail(f"model {ref!r} with params {params!r}: {type(exc).__name__}: {_line(exc)}")
    if not isinstance(model, keras.Model):
        _fail(f"model {ref!r}: the factory returned {type(model).__name__}, not a keras.Model")
    return model


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_model(model: Any, job: dict[str, Any], name: str) -> None:
    if not getattr(model, "inputs", None):
        _fail(f"{name}: the model declares no input (a subclassed keras.Model); build it with "
              "keras.Input (functional or Sequential)")  # fmt: skip
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        _fail(f"{name}: the model has {len(model.inputs)} inputs and {len(model.outputs)} "
              "outputs; zenopt optimizes models with one of each")  # fmt: skip
    shape = tuple(int(d) for d in model.inputs[0].shape[1:] if d is not None)
    if job["mode"] == "factory" and shape != tuple(job["input_shape"]):
        _fail(f"{name}: the model takes rows of shape {list(shape)}, the factory was asked for "
              f"{job['input_shape']}; build its keras.Input from input_shape")  # fmt: skip
    out = model(np.zeros((2, *shape), dtype="float32"), training=False)
    width = tuple(int(d) for d in out.shape[1:])
    if width != (job["num_outputs"],):
        _fail(f"{name}: output shape {width} per row, expected ({job['num_outputs']},); make "
              "the model honour num_outputs")  # fmt: skip


def _probabilities(model: Any, keras: Any, X: np.ndarray, loss: str) -> bool:
    """Whether the model's outputs are probabilities (a final softmax or sigmoid) rather than
    logits: its last layer's activation, or rows that are all distributions."""
    last = model.layers[-1] if model.layers else None
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if isinstance(last, keras.layers.Softmax):
        activation = "softmax"
    if activation == "softmax" and loss == "bce":
        _fail("the model ends in a softmax over one output (always 1); for two classes end "
              "in Dense(1, activation='sigmoid') or Dense(2, activation='softmax')")  # fmt: skip
    if activation == "sigmoid" and loss == "cross_entropy":
        _fail("the model ends in a sigmoid over several classes; end in a softmax (or no "
              "activation, for logits)")  # fmt: skip
    if activation in ("softmax", "sigmoid"):
        return True
    if loss != "cross_entropy":
        return False
    out = np.asarray(model.predict(X[:64], verbose=0), dtype=np.float64)
    return bool(out.min() >= 0.0 and np.allclose(out.sum(axis=1), 1.0, atol=1e-4))


def _logits(raw: np.ndarray, probs: bool, loss: str) -> np.ndarray:
    """Outputs as the logits zenopt's heads take (softmax of log p is p)."""
    raw = raw.astype(np.float64)
    if not probs or loss == "mse":
        return raw
    p = np.clip(raw, 1e-12, 1.0)
    if loss == "bce":
        p = np.clip(p, 1e-12, 1.0 - 1e-12)
        return np.asarray(np.log(p) - np.log1p(-p))
    return np.asarray(np.log(p))


def _score(logits: np.ndarray, y: np.ndarray, loss: str) -> tuple[float, float]:
    """The task loss and zenopt's monitored metric (accuracy, or MSE) on validation."""
    if loss == "cross_entropy":
        top = logits.max(axis=1, keepdims=True)
        log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        value = float(np.mean(log_z - logits[np.arange(len(y)), y]))
        return value, float(np.mean(logits.argmax(axis=1) == y))
    if loss == "bce":
        z = logits[:, 0]
        value = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
        return value, float(np.mean((z > 0).astype(int) == y))
    mse = float(np.mean((logits[:, 0] - y) ** 2))
    return mse, mse


def _loss(keras: Any, loss: str, probs: bool) -> Any:
    if loss == "cross_entropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=not probs)
    if loss == "bce":
        return keras.losses.BinaryCrossentropy(from_logits=not probs)
    return keras.losses.MeanSquaredError()


def _optimizer(keras: Any, s: dict[str, Any]) -> Any:
    """PyTorch's optimizers' settings in Keras (``keras_train`` documents the mapping)."""
    lr, kind = s["lr"], s["optimizer"]
    if kind == "sgd":
        nesterov = bool(s["nesterov"] and s["momentum"] > 0)
        return keras.optimizers.SGD(lr, momentum=s["momentum"], nesterov=nesterov)
    if kind == "adam":
        return keras.optimizers.Adam(lr, epsilon=1e-8)
    if kind == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=s["weight_decay"], epsilon=1e-8)
    return keras.optimizers.RMSprop(lr, rho=0.99, momentum=s["momentum"], epsilon=1e-8)


def _regularize(model: Any, keras: Any, s: dict[str, Any]) -> None:
    """``train.l1``/``l2`` on kernels (ndim > 1), and PyTorch's coupled weight decay of
    SGD/Adam/RMSprop (``wd·w`` added to every gradient, i.e. ``wd/2·Σw²`` on every trainable
    weight), as Keras weight regularizers."""
    coupled = s["weight_decay"] / 2 if s["optimizer"] != "adamw" else 0.0
    for variable in model.trainable_weights:
        kernel = len(variable.shape) > 1
        l1, l2 = (s["l1"], s["l2"] + coupled) if kernel else (0.0, coupled)
        if l1 or l2:
            variable.regularizer = keras.regularizers.L1L2(l1=l1, l2=l2)


class _Best:
    """zenopt's early-stopping rule (``train.early_stopping``): improve by more than
    ``min_delta``, or tie on the metric at a lower validation loss."""

    def __init__(self, patience: int | None, min_delta: float, maximize: bool) -> None:
        self.patience, self.min_delta, self.maximize = patience, min_delta, maximize
        self.value: float | None = None
        self.loss: float | None = None
        self.epoch, self.bad, self.weights, self.stopped = 0, 0, None, False

    def update(self, value: float, loss: float, epoch: int, model: Any) -> bool:
        """Record an epoch; True when training should stop."""
        best = self.value
        if best is None:
            better = True
        elif self.maximize:
            better = value > best + self.min_delta
        else:
            better = value < best - self.min_delta
        tie = best is not None and value == best and self.loss is not None and loss < self.loss
        if better or tie:
            self.value, self.loss, self.epoch, self.bad = value, loss, epoch, 0
            self.weights = model.get_weights()
            return False
        self.bad += 1
        self.stopped = self.patience is not None and self.bad >= self.patience
        return self.stopped


def _callback(keras: Any, job: dict[str, Any], val: tuple[np.ndarray, np.ndarray]) -> Any:
    s, loss, out = job["settings"], job["loss"], Path(job["out"])
    target = job.get("target")

    class Epochs(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.best = _Best(s["patience"], s["min_delta"], loss != "mse")
            self.plateau: tuple[float, int] | None = None  # best value, bad epochs
            self.started = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()
            if s["schedule"] == "cosine":  # PyTorch's CosineAnnealingLR, per epoch
                lr = 0.5 * s["lr"] * (1 + math.cos(math.pi * epoch / s["epochs"]))
                self.model.optimizer.learning_rate.assign(lr)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raw = self.model.predict(val[0], batch_size=512, verbose=0)
            logits = _logits(np.asarray(raw), job["probs"], loss)
            val_loss, metric = _score(logits, val[1], loss)
            if target:  # validation outputs in the data's units
                logits = logits * target["std"] + target["mean"]
            path = out / f"val-{epoch + 1:04d}.npy"
            np.save(path, logits.astype(np.float32))
            penalty = float(sum(float(v) for v in self.model.losses)) if self.model.losses else 0.0
            lr = float(np.asarray(self.model.optimizer.learning_rate))
            self.model.stop_training = self.best.update(metric, val_loss, epoch + 1, self.model)
            if s["schedule"] == "plateau":
                self._plateau(metric, lr)
            seconds = time.perf_counter() - self.started
            _say(epoch=epoch + 1, train_loss=float((logs or {}).get("loss", 0.0)) - penalty,
                 train_penalty=penalty, val_loss=val_loss, val_metric=metric, lr=lr,
                 seconds=seconds, outputs=str(path))  # fmt: skip

        def _plateau(self, metric: float, lr: float) -> None:
            """PyTorch's ReduceLROnPlateau: factor 0.5, relative threshold 1e-4."""
            best, bad = self.plateau or (metric, -1)
            better = metric > best * (1 + 1e-4) if loss != "mse" else metric < best * (1 - 1e-4)
            if bad < 0 or better:
                self.plateau = (metric, 0)
                return
            bad += 1
            if bad > s["plateau_patience"]:
                self.model.optimizer.learning_rate.assign(lr * 0.5)
                bad = 0
            self.plateau = (best, bad)

        def on_train_end(self, logs: Any = None) -> None:
            if self.best.weights is not None:
                self.model.set_weights(self.best.weights)

    return Epochs()


def _data(job: dict[str, Any], model_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The splits in the model's layout: as given, or images moved to channels last."""
    folder = Path(job["data"])
    arrays = {k: np.load(folder / f"{k}.npy") for k in ("X_train", "y_train", "X_val", "y_val")}
    shape = tuple(arrays["X_train"].shape[1:])
    if shape != model_shape:
        if len(shape) == 3 and model_shape == (shape[1], shape[2], shape[0]):
            for key in ("X_train", "X_val"):
                arrays[key] = np.ascontiguousarray(arrays[key].transpose(0, 2, 3, 1))
        else:
            _fail(f"{job['name']}: the model takes rows of shape {list(model_shape)}, the data "
                  f"gives {list(shape)}; the data must be in the model's input space")  # fmt: skip
    return arrays


def _train(job: dict[str, Any], keras: Any, model: Any) -> Any:
    s, loss = job["settings"], job["loss"]
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    data = _data(job, shape)
    job["probs"] = _probabilities(model, keras, data["X_train"], loss)
    y_train, y_val = data["y_train"], data["y_val"]
    target = job.get("target")
    if target:  # regression trains on the standardised target, as zenopt's own loop does
        y_train = (y_train - target["mean"]) / target["std"]
        y_val = (y_val - target["mean"]) / target["std"]
    if loss == "bce":
        y_train = y_train.astype("float32").reshape(-1, 1)
    _regularize(model, keras, s)
    model.compile(optimizer=_optimizer(keras, s), loss=_loss(keras, loss, job["probs"]))
    weights = s.get("class_weight")
    started = time.perf_counter()
    epochs = _callback(keras, job, (data["X_val"], y_val))
    model.fit(data["X_train"], y_train, batch_size=s["batch_size"], epochs=s["epochs"],
              shuffle=True, verbose=0, callbacks=[epochs],
              class_weight=None if weights is None else dict(enumerate(weights)))  # fmt: skip
    best = epochs.best
    _say(
        trained=True,
        seconds=time.perf_counter() - started,
        probabilities=job["probs"],
        best_epoch=best.epoch,
        best_value=best.value,
        stopped_early=best.stopped,
    )
    if target:  # the exported model gives values in the data's units
        scaled = keras.layers.Rescaling(scale=target["std"], offset=target["mean"])
        model = keras.Model(model.inputs, scaled(model.outputs[0]))
        model(data["X_val"][:2])  # a new model is traced only once called
    return model


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
    except ImportError:
        _fail("Keras is not installed: pip install 'zenopt[tensorflow]'")
    from zenopt.models.keras_export import export_onnx

    keras.utils.set_random_seed(int(job["settings"]["seed"]))
    name, out = job["name"], Path(job["out"])
    try:
        if job["mode"] == "factory":
            model = _factory_model(job, keras)
        else:
            model = keras.models.load_model(job["source"], compile=False)
        _check_model(model, job, name)
        if not job.get("probe"):
            model = _train(job, keras, model)
            model.save(out / "model.keras")
        export_onnx(model, out / "model.onnx")
    except SystemExit:
        raise
    except Exception as exc:  # Keras's and TensorFlow's own errors, as one line
        _fail(f"{name}: {type(exc).__name__}: {_line(exc)}")
    _say(done=True, params=int(model.count_params()))


if __name__ == "__main__":
    main()
