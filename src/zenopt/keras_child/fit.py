"""The child process that trains a Keras model for zenopt: ``python -m zenopt.keras_child.fit
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

import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.keras_child.rules import Best, Plateau, cosine_lr, score, to_logits

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
    if isinstance(model, keras.Sequential) and not model.built:  # no keras.Input: build it
        model.build((None, *shape))
    return model


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_model(model: Any, keras: Any, job: dict[str, Any], name: str) -> None:
    if not getattr(model, "inputs", None):
        _fail(f"{name}: the model declares no input (a subclassed keras.Model, or one never "
              "built); build it with keras.Input (functional or Sequential)")  # fmt: skip
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        _fail(f"{name}: the model has {len(model.inputs)} inputs and {len(model.outputs)} "
              "outputs; zenopt optimizes models with one of each")  # fmt: skip
    shape = tuple(int(d) for d in model.inputs[0].shape[1:] if d is not None)
    if job["mode"] == "factory" and shape != tuple(job["input_shape"]):
        _fail(f"{name}: the model takes rows of shape {list(shape)}, the factory was asked for "
              f"{job['input_shape']}; build its keras.Input from input_shape")  # fmt: skip
    _check_head(model, keras, job["loss"])
    out = model(np.zeros((2, *shape), dtype="float32"), training=False)
    width = tuple(int(d) for d in out.shape[1:])
    if width != (job["num_outputs"],):
        _fail(f"{name}: output shape {width} per row, expected ({job['num_outputs']},); make "
              "the model honour num_outputs")  # fmt: skip


def _final_activation(model: Any, keras: Any) -> str:
    """The last layer's activation by name (``softmax``, ``sigmoid``, or another)."""
    last = model.layers[-1] if model.layers else None
    if isinstance(last, keras.layers.Softmax):
        return "softmax"
    return str(getattr(getattr(last, "activation", None), "__name__", ""))


def _check_head(model: Any, keras: Any, loss: str) -> None:
    """A final activation that cannot fit the loss is refused (a probe checks it too)."""
    activation = _final_activation(model, keras)
    if activation == "softmax" and loss == "bce":
        _fail("the model ends in a softmax over one output (always 1); for two classes end "
              "in Dense(1, activation='sigmoid') or set train.loss=cross_entropy (two outputs "
              "and a softmax)")  # fmt: skip
    if activation == "sigmoid" and loss == "cross_entropy" and len(model.outputs) == 1:
        width = int(model.outputs[0].shape[-1] or 0)
        if width == 1:
            _fail("the model ends in Dense(1, activation='sigmoid'): set train.loss=bce for it "
                  "(on two classes a Keras factory's default is cross-entropy over two "
                  "outputs with a softmax)")  # fmt: skip
    if activation == "sigmoid" and loss == "cross_entropy":
        _fail("the model ends in a sigmoid over several classes; end in a softmax (or no "
              "activation, for logits), or for two classes set train.loss=bce with "
              "Dense(1, activation='sigmoid')")  # fmt: skip


def _probabilities(model: Any, keras: Any, X: np.ndarray, loss: str) -> bool:
    """Whether the model's outputs are probabilities (a final softmax or sigmoid) rather than
    logits: its last layer's activation, or outputs on 64 training rows that are all
    distributions (cross-entropy) or all within 0–1 (binary)."""
    if _final_activation(model, keras) in ("softmax", "sigmoid"):
        return True
    if loss == "mse":
        return False
    out = np.asarray(model.predict(X[:64], verbose=0), dtype=np.float64)
    if loss == "bce":
        return bool(out.min() >= 0.0 and out.max() <= 1.0)
    return bool(out.min() >= 0.0 and np.allclose(out.sum(axis=1), 1.0, atol=1e-4))


def _loss(keras: Any, loss: str, probs: bool, weighted: bool) -> Any:
    if loss == "cross_entropy":  # weighted as PyTorch's: by the batch's total weight
        reduction = "mean_with_sample_weight" if weighted else "sum_over_batch_size"
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=not probs, reduction=reduction
        )
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
    # Keras divides by sqrt(v + eps), PyTorch by sqrt(v) + eps: 1e-16 gives PyTorch's floor.
    return keras.optimizers.RMSprop(lr, rho=0.99, momentum=s["momentum"], epsilon=1e-16)


def _regularize(model: Any, keras: Any, s: dict[str, Any]) -> None:
    """``train.l1``/``l2`` on kernels (ndim > 1), and PyTorch's coupled weight decay of
    SGD/Adam/RMSprop (``wd·w`` added to every gradient, i.e. ``wd/2·Σw²`` on every trainable
    weight), as Keras weight regularizers."""
    coupled = s["weight_decay"] / 2 if s["optimizer"] != "adamw" else 0.0
    for variable in model.trainable_weights:
        kernel = len(variable.shape) > 1
        l1, l2 = (s["l1"], s["l2"] + coupled) if kernel else (0.0, coupled)
        if l1 or l2:
            ours, own = keras.regularizers.L1L2(l1=l1, l2=l2), variable.regularizer
            variable.regularizer = ours if own is None else _Both(own, ours)


class _Both:
    """The model's own weight regularizer plus zenopt's."""

    def __init__(self, own: Any, ours: Any) -> None:
        self.own, self.ours = own, ours

    def __call__(self, x: Any) -> Any:
        return self.own(x) + self.ours(x)


def _callback(keras: Any, job: dict[str, Any], val: tuple[np.ndarray, np.ndarray]) -> Any:
    s, loss, out = job["settings"], job["loss"], Path(job["out"])
    target = job.get("target")
    lock = _epoch_lock(job.get("host_lock"))

    class Epochs(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.best = Best(s["patience"], s["min_delta"], loss != "mse")
            self.plateau = Plateau(s["plateau_patience"], loss != "mse")
            self.started = 0.0
            self.held = contextlib.ExitStack()

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.held.enter_context(lock())  # the host lock, shared, for one epoch
            self.started = time.perf_counter()
            if s["schedule"] == "cosine":
                self.model.optimizer.learning_rate.assign(cosine_lr(s["lr"], epoch, s["epochs"]))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            train_loss = float((logs or {}).get("loss", 0.0))
            if not math.isfinite(train_loss):
                _fail(
                    f"training diverged: the loss became {train_loss} in epoch {epoch + 1}; "
                    f"lower train.lr (now {s['lr']}) or check the data for extreme values"
                )
            raw = self.model.predict(val[0], batch_size=512, verbose=0)
            logits = to_logits(np.asarray(raw), job["probs"], loss)
            val_loss, metric = score(logits, val[1], loss)
            path = out / f"val-{epoch + 1:04d}.npy"  # validation outputs in the data's units
            np.save(path, _units(logits, target).astype(np.float32))
            penalty = float(sum(float(v) for v in self.model.losses)) if self.model.losses else 0.0
            lr = float(np.asarray(self.model.optimizer.learning_rate))
            tie_loss = None if loss == "mse" else val_loss  # as zenopt's loop passes it
            stop = self.best.update(metric, tie_loss, epoch + 1, self.model)
            self.model.stop_training = stop and epoch + 1 < s["epochs"]
            self.best.stopped = bool(self.model.stop_training)
            if s["schedule"] == "plateau":
                self.model.optimizer.learning_rate.assign(self.plateau.step(metric, lr))
            seconds = time.perf_counter() - self.started
            self.held.close()
            _say(epoch=epoch + 1, train_loss=train_loss - penalty, train_penalty=penalty,
                 val_loss=val_loss, val_metric=metric, lr=lr, seconds=seconds,
                 outputs=str(path))  # fmt: skip

        def on_train_end(self, logs: Any = None) -> None:
            self.held.close()
            if self.best.weights is not None:
                self.model.set_weights(self.best.weights)

    return Epochs()


def _units(values: np.ndarray, target: dict[str, float] | None) -> np.ndarray:
    return values if not target else values * target["std"] + target["mean"]


def _epoch_lock(path: str | None) -> Any:
    """The run's host lock (``bench.host_lock``), held shared for each epoch as zenopt's own
    loop holds it, so a timing on this host waits for at most one epoch."""
    if not path:
        return contextlib.nullcontext
    from zenopt.profile.hostlock import host_lock

    return host_lock(path).shared


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
    weights = s.get("class_weight")
    loss_fn = _loss(keras, loss, job["probs"], weights is not None)
    model.compile(optimizer=_optimizer(keras, s), loss=loss_fn)
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
    return model


def _save(model: Any, keras: Any, job: dict[str, Any], folder: Path) -> None:
    """The trained model as ``model.keras``: a regression's ends in a ``Rescaling(std, mean)``
    layer, so that it gives values in the data's units (the ONNX export stays standardised,
    as zenopt's own models are, and the run's model scales it back)."""
    target = job.get("target")
    if target:
        scaled = keras.layers.Rescaling(scale=target["std"], offset=target["mean"])
        model = keras.Model(model.inputs, scaled(model.outputs[0]))
        shape = [1, *(int(d) for d in model.inputs[0].shape[1:])]
        model(np.zeros(shape, dtype="float32"))  # a new model is traced only once called
    model.save(folder / "model.keras")


def _threads(job: dict[str, Any]) -> None:
    """The run's training threads (zenopt's ``tune.threads`` share, its process's torch
    threads) and deterministic kernels, so that a trial reruns exactly."""
    import tensorflow as tf

    threads = int(job.get("threads") or 0)
    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    tf.config.experimental.enable_op_determinism()


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
    except ImportError:
        _fail("Keras is not installed: pip install 'zenopt[tensorflow]'")
    from zenopt.keras_child.export import export_onnx

    _threads(job)
    keras.utils.set_random_seed(int(job["settings"]["seed"]))
    name, out = job["name"], Path(job["out"])
    try:
        if job["mode"] == "factory":
            model = _factory_model(job, keras)
        else:
            model = keras.models.load_model(job["source"], compile=False)
        _check_model(model, keras, job, name)
        if not job.get("probe"):
            model = _train(job, keras, model)
            _save(model, keras, job, out)
        export_onnx(model, out / "model.onnx")
    except SystemExit:
        raise
    except Exception as exc:  # Keras's and TensorFlow's own errors, as one line
        _fail(f"{name}: {type(exc).__name__}: {_line(exc)}")
    _say(done=True, params=int(model.count_params()))


if __name__ == "__main__":
    main()
