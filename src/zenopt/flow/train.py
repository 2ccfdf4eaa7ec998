"""The flow's train and evaluate boxes as functions of a config: build the network, train it,
evaluate it on a split. The run trains once for the baseline (:func:`train_baseline`); the
quality loop builds and trains once per trial, in this process or in a ``zenopt worker``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError
from zenopt.core.records import EpochRecord
from zenopt.data import Dataset, TargetScaler
from zenopt.data.augment import BatchAugmenter
from zenopt.data.balance import balance_training_rows
from zenopt.data.prepare import Prepared
from zenopt.evaluate.quality import evaluate_outputs, predict_torch
from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.flow.data import DataStage
from zenopt.flow.keras_train import KerasPending, build_keras, is_keras_training, train_keras
from zenopt.models import DeployableModel, ModelSpec, build_model
from zenopt.models.input_transform import InputTransform
from zenopt.models.onnx_source import is_onnx
from zenopt.models.registry import factory_folder, resolve_model_name
from zenopt.report.progress import EpochProgress
from zenopt.train import fit, resolve_loss
from zenopt.train.losses import HEADS, num_outputs_for

__all__ = ["build", "evaluate_split", "model_inputs", "train", "train_baseline"]

# Each epoch's record, and the model as it stands (a Keras model: its validation outputs).
EpochCallback = Callable[[EpochRecord, "DeployableModel | np.ndarray"], None]


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def build(
    config: RunConfig, dataset: Dataset, prepared: Prepared
) -> tuple[torch.nn.Module, ModelSpec]:
    """Seed, then build the network for this data; fails before anything is written."""
    input_shape = tuple(int(d) for d in prepared.splits.train.X.shape[1:])
    net_shape = tuple(int(d) for d in prepared.model_input(prepared.splits.train.X[:1]).shape[1:])
    name = resolve_model_name(config.model.name, dataset.kind)
    if config.train.epochs < 1 and not is_onnx(name):
        raise ConfigError(
            f"train.epochs=0: model {name} is trained by zenopt; give 1 or more (0 is for a "
            "saved model evaluated as it is: keras:PATH)"
        )
    if is_keras_training(config):  # trained in Keras, in a child process
        return build_keras(config, dataset, prepared, net_shape)
    if is_onnx(name):
        from zenopt.flow.pretrained import build_pretrained

        return build_pretrained(config, dataset, prepared, net_shape)
    loss = resolve_loss(config.train.loss, dataset.task)
    num_outputs = num_outputs_for(loss, dataset.num_classes)
    _seed_everything(config.seed)
    net = build_model(name, net_shape, num_outputs, dict(config.model.params))
    spec = ModelSpec(
        name=name,
        params=dict(config.model.params),
        input_shape=input_shape,
        net_input_shape=net_shape,
        num_outputs=num_outputs,
        head=HEADS[loss],  # type: ignore[arg-type]
        task=dataset.task,
        class_names=list(dataset.class_names),
        inputs=model_inputs(dataset, prepared),
        factory_folder=factory_folder(name),
    )
    return net, spec


def model_inputs(dataset: Dataset, prepared: Prepared) -> dict[str, Any]:
    """How raw rows become the model's input: feature names and the categorical encoder."""
    return {
        "numeric": dataset.feature_names,
        "features": prepared.feature_names,
        "encoder": prepared.encoder.to_dict(),
    }


def train(
    config: RunConfig,
    dataset: Dataset,
    prepared: Prepared,
    net: torch.nn.Module,
    on_epoch: EpochCallback | None = None,
) -> tuple[DeployableModel, dict[str, Any], dict[str, Any]]:
    """Train on the prepared training rows (balanced if asked) and wrap the fitted transform,
    the network and the target scaling in one deployable module.

    ``on_epoch`` sees each epoch's record and the deployable model as it stands (the quality
    loop measures its validation metric there for the pruner). A Keras model trains in Keras
    (``keras_train``); the spec of what it became comes back as ``extra["spec"]``."""
    if isinstance(net, KerasPending):
        return train_keras(config, dataset, prepared, net, on_epoch)
    loss = resolve_loss(config.train.loss, dataset.task)
    splits = prepared.splits
    target = TargetScaler()
    y_train, y_val = splits.train.y, splits.val.y
    if dataset.task == "regression":
        target.fit(y_train)
        y_train, y_val = target.transform(y_train), target.transform(y_val)
    X_train = prepared.model_input(splits.train.X)
    X_train, y_train, weights, balancing = balance_training_rows(
        config.data.balance, X_train, y_train, dataset.num_classes, config.seed
    )
    model = DeployableModel(
        net, InputTransform(prepared.transform.arrays), target.mean_, target.std_
    )
    result = fit(
        net,
        X_train,
        y_train,
        prepared.model_input(splits.val.X),
        y_val,
        config.train,
        loss,
        config.seed,
        None if on_epoch is None else (lambda record: on_epoch(record, model)),
        weights,
        BatchAugmenter.from_config(config.data, config.seed),
    )
    model.eval()
    preprocess = {**prepared.to_dict(), "target": target.to_dict()}
    return (
        model,
        {**result.to_dict(), "balance": balancing},
        {"loss": loss, "preprocess": preprocess},
    )


def evaluate_split(
    model: torch.nn.Module | np.ndarray, head: str, stage: DataStage, split: str
) -> dict[str, Any]:
    """Quality of ``model`` (PyTorch, or its outputs on the split's rows) on one split:
    ``"val"`` or ``"test"``."""
    part = getattr(stage.prepared.splits, split)
    outputs = model if isinstance(model, np.ndarray) else predict_torch(model, part.X)
    return evaluate_outputs(outputs, part.y, head, stage.dataset.task, stage.dataset.class_names)


def train_baseline(
    ctx: RunContext, record: RunRecord, net: torch.nn.Module, spec: ModelSpec
) -> Baseline:
    """Train the run's baseline with a progress bar; its training and preprocessing go into
    the manifest. A model that arrived trained (``onnx:PATH``) is taken as it is."""
    if spec.name in ("onnx", "onnx_file") and not isinstance(net, KerasPending):
        from zenopt.flow.pretrained import take_pretrained

        return take_pretrained(ctx, record, net, spec)
    monitor = "val_mse(std)" if spec.head == "identity" else "val_acc"
    with (
        record.timed("train_s"),
        EpochProgress(ctx.console, ctx.quiet, spec.name, ctx.config.train.epochs) as progress,
    ):
        model, training, extra = train(
            ctx.config,
            ctx.data.dataset,
            ctx.data.prepared,
            net,
            lambda epoch, _: progress(epoch, monitor),
        )
        progress.finish(training["epochs_run"])
    spec = extra.pop("spec", spec)  # a Keras model: what it became
    record.manifest["data"]["preprocess"] = extra["preprocess"]
    record.manifest["model"] = {**spec.to_dict(), "loss": extra["loss"]}
    record.manifest["training"] = training
    if isinstance(net, KerasPending):
        from zenopt.flow.pretrained import note_graph_only

        note_graph_only(ctx, record, spec)
    return Baseline(model, spec)
