"""The build and train boxes for a Keras model: a factory zenopt trains
(``package.module:factory`` returning a ``keras.Model``), or a saved model it fine-tunes
(``keras:PATH`` with ``train.epochs`` set). Keras trains with its own ``fit`` in a child
process (``models.keras_job``) on the run's prepared splits, with the run's ``train`` section
mapped across; its ONNX export then becomes the run's model as ``onnx:PATH`` models do
(``flow.pretrained``), checked against ONNX Runtime on the data's rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError
from zenopt.core.records import EpochRecord
from zenopt.data import Dataset, TargetScaler
from zenopt.data.balance import balance_training_rows
from zenopt.data.prepare import Prepared
from zenopt.models import DeployableModel, ModelSpec
from zenopt.models.input_transform import InputTransform
from zenopt.models.keras_job import (
    check_factory,
    factory_ref,
    fit_settings,
    is_keras_factory,
    job_folder,
    keras_input_shape,
    run_keras_job,
)
from zenopt.models.keras_source import is_keras
from zenopt.models.registry import factory_folder
from zenopt.profile.hostlock import configured_lock_path
from zenopt.train import resolve_loss
from zenopt.train.losses import HEAD_LOSS, HEADS, num_outputs_for

__all__ = ["KerasPending", "build_keras", "is_keras_training", "keras_gap", "train_keras"]

EpochFn = Callable[[EpochRecord, np.ndarray], None]
_PROBES: dict[str, str] = {}  # a factory's job (as JSON) -> its untrained model's ONNX file


class KerasPending(torch.nn.Module):
    """Stands for a Keras model until :func:`train_keras` trains it (in Keras)."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__()
        self.job = job

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError(f"{self.job['name']} is trained in Keras first (train_keras)")


def is_keras_training(config: RunConfig) -> bool:
    """A Keras factory, or a saved Keras model with ``train.epochs`` above 0 (fine-tuned)."""
    name = config.model.name
    return is_keras_factory(name) or (is_keras(name) and config.train.epochs > 0)


def _job(config: RunConfig, dataset: Dataset, net_shape: tuple[int, ...], loss: str) -> Any:
    """The child's job: the model (a factory, or a saved model), the loss, the training
    threads and the host lock it takes per epoch."""
    name = config.model.name
    job: dict[str, Any] = {"name": name, "loss": loss, "threads": torch.get_num_threads(),
                           "host_lock": configured_lock_path()}  # fmt: skip
    if is_keras_factory(name):
        ref = factory_ref(name)
        job.update(mode="factory", ref=ref, folder=factory_folder(ref),
                   params=dict(config.model.params), input_shape=list(keras_input_shape(net_shape)),
                   num_outputs=num_outputs_for(loss, dataset.num_classes))  # type: ignore[arg-type]  # fmt: skip
    else:
        job.update(mode="saved", source=str(Path(name[len("keras:") :]).expanduser()))
    return job


def _factory_loss(config: RunConfig, dataset: Dataset) -> str:
    """``train.loss: auto`` for a Keras factory on two classes is cross-entropy over two
    outputs: Keras classifiers end in ``Dense(num_outputs, activation="softmax")``."""
    if config.train.loss == "auto" and dataset.task == "binary":
        return "cross_entropy"
    return resolve_loss(config.train.loss, dataset.task)


def _saved_head(
    config: RunConfig, dataset: Dataset, prepared: Prepared, net_shape: tuple[int, ...]
) -> tuple[str, int]:
    """A saved model to fine-tune: its head and output width, from its ONNX export."""
    from zenopt.flow.pretrained import build_pretrained

    source = Path(config.model.name[len("keras:") :]).expanduser()
    if source.is_dir():
        raise ConfigError(
            f"train.epochs={config.train.epochs}: {config.model.name} is a SavedModel folder, "
            "which Keras 3 cannot load to train; fine-tune the .keras file (model.save("
            "'m.keras')), or leave train.epochs out to evaluate it as it is"
        )
    spec = build_pretrained(config, dataset, prepared, net_shape)[1]
    return spec.head, spec.num_outputs


def probe(job: dict[str, Any]) -> str:
    """Build the factory's model in Keras (checking its input and output) and export it
    untrained: the path of that ONNX file. Once per job in a process."""
    key = _json_key(job)
    if key not in _PROBES:
        check_factory(job["ref"])  # a missing module or name: without starting TensorFlow
        with job_folder() as folder:
            settings = {"seed": 0}
            done = run_keras_job({**job, "probe": True, "out": folder, "settings": settings})
        _PROBES[key] = done["onnx"]
    return _PROBES[key]


def _json_key(job: dict[str, Any]) -> str:
    import json

    return json.dumps(job, sort_keys=True, default=str)


def build_keras(
    config: RunConfig, dataset: Dataset, prepared: Prepared, net_shape: tuple[int, ...]
) -> tuple[torch.nn.Module, ModelSpec]:
    """A stand-in for the Keras model and the spec it is trained with; a factory is built once
    in Keras first (``probe``), so a broken one fails before anything is written."""
    from zenopt.flow.train import model_inputs

    head = None
    if is_keras_factory(config.model.name):
        loss = _factory_loss(config, dataset)
    else:
        head, width = _saved_head(config, dataset, prepared, net_shape)
        loss = HEAD_LOSS[head]
    config = config.model_copy(update={"train": config.train.model_copy(update={"loss": loss})})
    fit_settings(config)  # what cannot map to Keras fails here, before anything is written
    job = _job(config, dataset, net_shape, loss)
    if job["mode"] == "factory":
        probe(job)
    else:
        job["num_outputs"] = width
    spec = ModelSpec(
        name=config.model.name,
        params=dict(config.model.params),
        input_shape=tuple(int(d) for d in prepared.splits.train.X.shape[1:]),
        net_input_shape=net_shape,
        num_outputs=int(job["num_outputs"]),
        head=head or HEADS[loss],  # type: ignore[arg-type]
        task=dataset.task,
        class_names=list(dataset.class_names),
        inputs=model_inputs(dataset, prepared),
    )
    return KerasPending(job), spec


def keras_gap(config: RunConfig, dataset: Dataset, prepared: Prepared) -> str | None:
    """Why a Keras factory's model has no PyTorch form (the converter lacks an operator of
    its untrained export), or None; other models: None."""
    if not is_keras_factory(config.model.name):
        return None
    from zenopt.models.onnx_source import conversion_gap

    loss = _factory_loss(config, dataset)
    return conversion_gap(f"onnx:{probe(_job(config, dataset, _net_shape(prepared), loss))}")


def _net_shape(prepared: Prepared) -> tuple[int, ...]:
    """The network's input shape: a training row after the fitted transform."""
    return tuple(int(d) for d in prepared.model_input(prepared.splits.train.X[:1]).shape[1:])


def _write_splits(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in arrays.items():
        np.save(folder / f"{key}.npy", value)


def _epoch_fn(history: list[EpochRecord], on_epoch: EpochFn | None) -> Any:
    def take(fields: dict[str, Any]) -> None:
        record = EpochRecord(**{k: v for k, v in fields.items() if k != "outputs"})
        history.append(record)
        if on_epoch is not None:
            on_epoch(record, np.load(fields["outputs"]))

    return take


def _training(
    done: dict[str, Any], history: list[EpochRecord], loss: str, n: int, scaled: bool
) -> Any:
    seconds = float(done.get("seconds", 0.0))
    epochs = len(history)
    return {
        "framework": "keras",
        "keras_model": done.get("keras"),
        "monitor": "val_accuracy" if loss != "mse" else f"val_mse{'_standardised' * scaled}",
        "best_epoch": int(done.get("best_epoch", 0)),
        "best_value": float(done.get("best_value", 0.0)),
        "stopped_early": bool(done.get("stopped_early", False)),
        "epochs_run": epochs,
        "train_samples_per_s": n * epochs / seconds if seconds > 0 else 0.0,
        "seconds": seconds,
        "outputs": "probabilities (a final softmax/sigmoid)"
        if done.get("probabilities")
        else "logits",
        "history": [r.to_dict() for r in history],
    }


def train_keras(
    config: RunConfig,
    dataset: Dataset,
    prepared: Prepared,
    net: KerasPending,
    on_epoch: EpochFn | None = None,
) -> tuple[DeployableModel, dict[str, Any], dict[str, Any]]:
    """Train the Keras model on the prepared training rows (balanced if asked), then take its
    ONNX export on as the run's model. ``on_epoch`` sees each epoch's record and the
    validation outputs; the spec of the trained model comes back as ``extra["spec"]``."""
    splits, job = prepared.splits, dict(net.job)
    X_train = prepared.model_input(splits.train.X)
    X_train, y_train, weights, balancing = balance_training_rows(
        config.data.balance, X_train, splits.train.y, dataset.num_classes, config.seed
    )
    job["settings"] = {**fit_settings(config), "class_weight": None if weights is None
                       else [float(w) for w in weights]}  # fmt: skip
    target = TargetScaler()
    if dataset.task == "regression" and job["mode"] == "factory":
        target.fit(splits.train.y)
        job["target"] = {"mean": target.mean_, "std": target.std_}
    history: list[EpochRecord] = []
    with job_folder() as folder:
        arrays = {"X_train": X_train, "y_train": y_train, "y_val": splits.val.y,
                  "X_val": prepared.model_input(splits.val.X)}  # fmt: skip
        _write_splits(Path(folder) / "data", arrays)
        job.update(out=folder, data=str(Path(folder) / "data"))
        done = run_keras_job(job, _epoch_fn(history, on_epoch))  # the host lock: per epoch
    trained, spec = _take(config, dataset, prepared, done)
    transform = InputTransform(prepared.transform.arrays)
    model = DeployableModel(trained, transform, target.mean_, target.std_).eval()
    training = _training(done, history, job["loss"], len(X_train), "target" in job)
    training["balance"] = balancing
    if "target" in job:
        training["target_scaling"] = (
            "trained on the standardised target; the run's model scales it back, and the "
            "saved .keras model ends in a Rescaling(std, mean) layer"
        )
    preprocess = {**prepared.to_dict(), "target": target.to_dict()}
    return model, training, {"loss": job["loss"], "preprocess": preprocess, "spec": spec}


def _take(
    config: RunConfig, dataset: Dataset, prepared: Prepared, done: dict[str, Any]
) -> tuple[torch.nn.Module, ModelSpec]:
    """The trained model's ONNX export as the run's network, and its spec, which says where
    it came from."""
    from zenopt.flow.pretrained import build_pretrained

    net_shape = _net_shape(prepared)
    renamed = config.model_copy(update={"model": config.model.model_copy(
        update={"name": f"onnx:{done['onnx']}"})})  # fmt: skip
    net, spec = build_pretrained(renamed, dataset, prepared, net_shape)
    source = {**spec.params["source"], "model": config.model.name, "keras_model": done.get("keras"),
              "params": dict(config.model.params), "trained_in": "keras"}  # fmt: skip
    return net, dataclasses.replace(spec, params={**spec.params, "source": source})
