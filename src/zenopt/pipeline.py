"""The flow, and nothing else: data → train → evaluate → quality met? → export → profile →
efficiency met? → artifacts + report.

Each stage lives in its own package; this module wires them, owns the two "requirements met?"
decisions and writes what each stage measured into the run's manifest as it goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

import zenopt
from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError
from zenopt.core.heads import prediction_texts, predictions_csv
from zenopt.core.records import BackendProfile, Decision, RequirementCheck
from zenopt.core.rundir import RunDir
from zenopt.data import Dataset, TargetScaler, load_dataset, split_dataset
from zenopt.data.augment import BatchAugmenter
from zenopt.data.balance import balance_training_rows
from zenopt.data.checks import check_data_options
from zenopt.data.prepare import Prepared, prepare
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.quality import (
    evaluate_outputs,
    predict_torch,
    quality_drop,
)
from zenopt.evaluate.requirements import check_efficiency, check_quality, validate_requirements
from zenopt.models import DeployableModel, ModelSpec, build_model, save_deployable
from zenopt.models.input_transform import InputTransform
from zenopt.models.registry import resolve_model_name
from zenopt.profile import count_flops, count_params, default_threads, file_sizes, fingerprint
from zenopt.profile.latency import profile_backend
from zenopt.report.progress import EpochProgress, stage_progress
from zenopt.runtime.export import export_onnx, verify_export
from zenopt.runtime.predictor import backend_names, predict_with_backend
from zenopt.train import fit, resolve_loss
from zenopt.train.losses import num_outputs_for

__all__ = ["RunOutcome", "run_pipeline"]

HEADS = {"cross_entropy": "softmax", "bce": "sigmoid", "mse": "identity"}


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    manifest: dict[str, Any]
    exit_code: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def _build(
    config: RunConfig, dataset: Dataset, prepared: Prepared
) -> tuple[torch.nn.Module, ModelSpec]:
    """Seed, then build the network for this data; fails before anything is written."""
    input_shape = tuple(int(d) for d in prepared.splits.train.X.shape[1:])
    net_shape = tuple(int(d) for d in prepared.model_input(prepared.splits.train.X[:1]).shape[1:])
    loss = resolve_loss(config.train.loss, dataset.task)
    num_outputs = num_outputs_for(loss, dataset.num_classes)
    name = resolve_model_name(config.model.name, dataset.kind)
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
        inputs={
            "numeric": dataset.feature_names,
            "features": prepared.feature_names,
            "encoder": prepared.encoder.to_dict(),
        },
    )
    return net, spec


def _train(
    config: RunConfig,
    dataset: Dataset,
    prepared: Prepared,
    net: torch.nn.Module,
    spec: ModelSpec,
    console: Console,
    quiet: bool,
) -> tuple[DeployableModel, dict[str, Any], dict[str, Any]]:
    """Train on the prepared training rows (balanced if asked) and wrap the fitted transform,
    the network and the target scaling in one deployable module."""
    loss = resolve_loss(config.train.loss, dataset.task)
    name = spec.name
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
    monitor = "val_mse(std)" if loss == "mse" else "val_acc"
    with EpochProgress(console, quiet, name, config.train.epochs) as progress:
        result = fit(
            net,
            X_train,
            y_train,
            prepared.model_input(splits.val.X),
            y_val,
            config.train,
            loss,
            config.seed,
            lambda record: progress(record, monitor),
            weights,
            BatchAugmenter.from_config(config.data, config.seed),
        )
        progress.finish(len(result.history))
    model = DeployableModel(
        net, InputTransform(prepared.transform.arrays), target.mean_, target.std_
    ).eval()
    preprocess = {**prepared.to_dict(), "target": target.to_dict()}
    return (
        model,
        {**result.to_dict(), "balance": balancing},
        {"loss": loss, "preprocess": preprocess},
    )


def _decision(loop: str, checks: list[RequirementCheck], action_missed: str) -> Decision:
    missed = [c.name for c in checks if not c.met]
    if missed:
        return Decision(loop, False, missed, action_missed)
    action = "no targets set" if not checks else "all targets met; nothing to do"
    return Decision(loop, True, [], action)


def run_pipeline(
    config: RunConfig,
    out: Path,
    *,
    overwrite: bool = False,
    command: list[str] | None = None,
    console: Console | None = None,
    quiet: bool = False,
) -> RunOutcome:
    """Run the whole flow into ``out`` and return the manifest and the exit code (0 or 1)."""
    console = console or Console(stderr=True)
    unknown = [b for b in config.bench.backends if b not in backend_names()]
    if unknown:
        raise ConfigError(
            f"bench.backends: {unknown[0]!r} is unknown; choose from {', '.join(backend_names())}"
        )
    timings: dict[str, float] = {}
    # 1. Data: load, check, split, summarise. All of it fails before anything is written.
    tick = time.perf_counter()
    dataset = load_dataset(config.data)
    duplicates = dataset.duplicate_rows()
    if config.data.drop_duplicates:  # before the split, so no row sits in train and test
        dataset, _ = dataset.without_duplicates()
    validate_requirements(config.requirements, dataset.task, config.bench.backends)
    splits = split_dataset(
        dataset, config.data.val_fraction, config.data.test_fraction, config.seed
    )
    check_data_options(config.data, dataset, splits.train.y)
    prepared = prepare(dataset, splits, config.data, config.seed)
    splits = prepared.splits
    timings["data_s"] = time.perf_counter() - tick
    net, spec = _build(config, dataset, prepared)
    run = RunDir(out).create(overwrite=overwrite)
    manifest: dict[str, Any] = {
        "zenopt_version": zenopt.__version__,
        "status": "running",
        "started_at": _now(),
        "command": command or [],
        "config": config.to_dict(),
        "environment": fingerprint(),
        "data": {
            **dataset.summary(),
            "duplicate_rows": duplicates,
            "duplicates_dropped": duplicates if config.data.drop_duplicates else 0,
            "splits": splits.sizes(),
        },
    }
    run.write_text("config.yaml", _yaml(config.to_dict()))
    run.write_manifest(manifest)
    try:
        return _run_stages(
            config, dataset, prepared, (net, spec), run, manifest, timings, console, quiet
        )
    except BaseException:
        manifest["status"] = "failed"
        manifest["finished_at"] = _now()
        run.write_manifest(manifest)
        raise


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _run_stages(
    config: RunConfig,
    dataset: Dataset,
    prepared: Prepared,
    built: tuple[torch.nn.Module, ModelSpec],
    run: RunDir,
    manifest: dict[str, Any],
    timings: dict[str, float],
    console: Console,
    quiet: bool,
) -> RunOutcome:
    # 2. Train, with preprocessing fitted on the training split only.
    tick = time.perf_counter()
    net, spec = built
    splits = prepared.splits
    model, training, extra = _train(config, dataset, prepared, net, spec, console, quiet)
    timings["train_s"] = time.perf_counter() - tick
    manifest["data"]["preprocess"] = extra["preprocess"]
    manifest["model"] = {**spec.to_dict(), "loss": extra["loss"]}
    manifest["training"] = training
    # 3. Evaluate the trained baseline on the held-out test split.
    test_outputs = predict_torch(model, splits.test.X)
    baseline = evaluate_outputs(
        test_outputs, splits.test.y, spec.head, dataset.task, dataset.class_names
    )
    metric, _ = primary_metric(dataset.task)
    manifest["quality"] = {"primary_metric": metric, "test": baseline}
    # 4. Quality met? The loop behind a "no" (hyperparameter search) is not built yet.
    quality_checks = check_quality(config.requirements, baseline)
    quality = _decision(
        "quality",
        quality_checks,
        "missed: the hyperparameter search is not available yet, so the trained baseline is "
        "carried on unchanged",
    )
    manifest["decisions"] = {"quality": quality.to_dict()}
    run.write_manifest(manifest)
    # 5. Export: safetensors + model.json, ONNX, and proof that ONNX reproduces PyTorch.
    tick = time.perf_counter()
    artifacts = save_deployable(model, spec, run.path)
    artifacts["onnx"] = export_onnx(model, spec.input_shape, run.file("model.onnx"))
    check = verify_export(model, artifacts["onnx"], splits.test.X, spec.head)
    timings["export_s"] = time.perf_counter() - tick
    manifest["export"] = {"onnx_max_abs_diff": check.max_abs_diff, **check.to_dict()}
    manifest["artifacts"] = {k: p.name for k, p in artifacts.items()}
    # 6. Profile every backend on real test samples, and measure its test quality.
    tick = time.perf_counter()
    threads = config.bench.threads or default_threads()
    batches = sorted(
        set(config.bench.batch_sizes)
        | {config.requirements.latency_batch, config.requirements.throughput_batch}
    )
    paths = {"torch": artifacts["spec"], "onnxruntime": artifacts["onnx"]}
    profiles: dict[str, BackendProfile] = {}
    by_backend: dict[str, Any] = {}
    latency_batches = frozenset({1, config.requirements.latency_batch})
    with stage_progress(console, quiet, "profile") as progress:
        task_id = progress.add_task("", total=len(config.bench.backends))
        for backend in config.bench.backends:
            progress.update(task_id, description=backend)
            profiles[backend] = profile_backend(
                backend,
                paths[backend],
                splits.test.X,
                batches,
                config.bench.warmup,
                config.bench.repeats,
                config.bench.throughput_repeats,
                threads,
                latency_batches,
            )
            outputs = predict_with_backend(backend, paths[backend], splits.test.X, threads)
            by_backend[backend] = evaluate_outputs(
                outputs, splits.test.y, spec.head, dataset.task, dataset.class_names
            )
            if backend == config.requirements.backend:
                texts = prediction_texts(outputs, spec.head, dataset.class_names)
                run.write_text("test_predictions.csv", predictions_csv(splits.test.indices, texts))
                manifest["artifacts"]["test_predictions"] = "test_predictions.csv"
            progress.advance(task_id)
    timings["profile_s"] = time.perf_counter() - tick
    manifest["profile"] = {name: p.to_dict() for name, p in profiles.items()}
    manifest["quality"]["by_backend"] = by_backend
    sizes = file_sizes(artifacts)
    manifest["cost"] = {
        "params": count_params(model.net),
        "flops": count_flops(model, spec.input_shape),
        "size_bytes": sizes,
    }
    # 7. Efficiency met? The loop behind a "no" (compression search) is not built yet.
    deploy = config.requirements.backend
    drop = quality_drop(baseline, by_backend[deploy], metric)
    manifest["quality"]["drop"] = {"backend": deploy, "metric": metric, "value": drop}
    size_key = "onnx" if deploy == "onnxruntime" else "safetensors"
    efficiency_checks = check_efficiency(
        config.requirements, profiles[deploy], sizes[size_key], drop
    )
    efficiency = _decision(
        "efficiency",
        efficiency_checks,
        "missed: the compression search is not available yet, so the exported baseline is "
        "handed back as it is",
    )
    manifest["decisions"]["efficiency"] = efficiency.to_dict()
    checks = quality_checks + efficiency_checks
    manifest["requirements"] = [c.to_dict() for c in checks]
    all_met = all(c.met for c in checks)
    exit_code = 0 if all_met else 1
    manifest["verdict"] = {
        "all_met": all_met,
        "exit_code": exit_code,
        "missed": [c.name for c in checks if not c.met],
        "deploy_backend": deploy,
    }
    manifest["timings"] = timings
    manifest["status"] = "complete"
    manifest["finished_at"] = _now()
    run.write_manifest(manifest)
    from zenopt.report.html import write_report

    write_report(manifest, run.file("report.html"))
    return RunOutcome(run.path, manifest, exit_code)
