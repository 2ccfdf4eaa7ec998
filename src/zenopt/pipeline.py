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

import torch
from rich.console import Console

import zenopt
from zenopt.analysis_stage import run_analysis
from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError, first_line
from zenopt.core.heads import prediction_texts, predictions_csv
from zenopt.core.records import BackendProfile, Decision, RequirementCheck
from zenopt.core.rundir import RunDir
from zenopt.efficiency_stage import compress_stage, search_stage
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.quality import evaluate_outputs
from zenopt.evaluate.requirements import Reference, check_efficiency, check_quality, measure_drop
from zenopt.models import ModelSpec, save_deployable
from zenopt.profile import count_flops, count_params, default_threads, file_sizes, fingerprint
from zenopt.profile.latency import profile_backend
from zenopt.quality_loop import preflight, run_quality_loop
from zenopt.report.progress import EpochProgress, stage_progress
from zenopt.runtime.export import export_onnx, verify_export
from zenopt.runtime.predictor import backend_names, predict_with_backend
from zenopt.stages import DataStage, build, evaluate_split, prepare_data, train
from zenopt.tune.space import apply_params
from zenopt.tune.storage import redact

__all__ = ["RunOutcome", "run_pipeline"]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    manifest: dict[str, Any]
    exit_code: int


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _better(chosen: dict[str, Any], baseline_val: dict[str, Any], metric: str) -> bool:
    """Carry the chosen trial on when it met every target on validation, or beats the baseline
    on the study's validation metric (a search that found nothing better keeps the baseline)."""
    if chosen["meets"]:
        return True
    value, base = chosen["value"], baseline_val.get(metric)
    if base is None:
        return True
    return bool(value < base) if metric in {"mse", "mae"} else bool(value > base)


def _tuned_decision(
    checks: list[RequirementCheck], summary: dict[str, Any], carried: bool
) -> Decision:
    counts, chosen = summary["counts"], summary["chosen"]
    ran = (
        f"searched {counts['counted']} trials ({counts['pruned']} pruned, "
        f"{counts['failed']} failed; {summary['stopped']})"
    )
    missed = [c.name for c in checks if not c.met]
    if chosen is None:
        action = f"{ran}: no trial finished, so the trained baseline is carried on"
    elif not carried:
        action = (
            f"{ran}: the best trial ({chosen['number']}, validation {summary['metric']} "
            f"{chosen['value']:.4f}) is no better than the baseline, which is carried on"
        )
    else:
        head = f"{ran}: trial {chosen['number']}"
        if chosen["meets"] and not missed:
            action = f"{head} met every target on validation, confirmed on the test split"
        elif chosen["meets"]:
            action = (
                f"{head} met every target on validation but misses {', '.join(missed)} on the "
                "test split; carried on, and the verdict says missed"
            )
        else:
            action = (
                f"{head} is the best (validation {summary['metric']} {chosen['value']:.4f}), "
                "but no trial met every target on validation; carried on"
            )
    return Decision("quality", not missed, missed, action)


def run_pipeline(
    config: RunConfig,
    out: Path,
    *,
    overwrite: bool = False,
    command: list[str] | None = None,
    console: Console | None = None,
    quiet: bool = False,
    resume: bool = False,
) -> RunOutcome:
    """Run the whole flow into ``out`` and return the manifest and the exit code (0 or 1).

    ``resume``: ``out`` holds an interrupted run of this config; its study is continued (the
    trials it finished are kept) and everything else is redone, deterministically."""
    console = console or Console(stderr=True)
    unknown = [b for b in config.bench.backends if b not in backend_names()]
    if unknown:
        raise ConfigError(
            f"bench.backends: {unknown[0]!r} is unknown; choose from {', '.join(backend_names())}"
        )
    timings: dict[str, float] = {}
    # 1. Data: load, check, split, summarise. All of it fails before anything is written.
    tick = time.perf_counter()
    stage = prepare_data(config)
    dataset, splits = stage.dataset, stage.prepared.splits
    timings["data_s"] = time.perf_counter() - tick
    net, spec = build(config, dataset, stage.prepared)
    preflight(config, stage)
    run = RunDir(out) if resume else RunDir(out).create(overwrite=overwrite)
    manifest: dict[str, Any] = {
        "zenopt_version": zenopt.__version__,
        "status": "running",
        "started_at": _now(),
        "resumed": resume,
        "command": [redact(item) for item in command or []],
        "config": _public(config),
        "environment": fingerprint(),
        "data": {
            **dataset.summary(),
            "duplicate_rows": stage.duplicates,
            "duplicates_dropped": stage.duplicates if config.data.drop_duplicates else 0,
            "splits": splits.sizes(),
        },
    }
    run.write_text("config.yaml", _yaml(config.to_dict()))
    run.write_manifest(manifest)
    try:
        return _run_stages(config, stage, (net, spec), run, manifest, timings, console, quiet)
    except BaseException:
        if manifest["status"] != "complete":  # the analysis after the verdict loses only itself
            manifest["status"] = "failed"
            manifest["finished_at"] = _now()
            run.write_manifest(manifest)
        raise


def _public(config: RunConfig) -> dict[str, Any]:
    """The config as written to the manifest and best_config.yaml: no database password
    (config.yaml keeps the URL as given, since --resume needs it; use ${VARIABLE} for it)."""
    data = config.to_dict()
    if data["tune"]["storage"]:
        data["tune"]["storage"] = redact(data["tune"]["storage"])
    return data


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _run_stages(
    config: RunConfig,
    stage: DataStage,
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
    dataset, splits = stage.dataset, stage.prepared.splits
    monitor = "val_mse(std)" if spec.head == "identity" else "val_acc"
    with EpochProgress(console, quiet, spec.name, config.train.epochs) as progress:
        model, training, extra = train(
            config, dataset, stage.prepared, net, lambda record, _: progress(record, monitor)
        )
        progress.finish(training["epochs_run"])
    timings["train_s"] = time.perf_counter() - tick
    manifest["data"]["preprocess"] = extra["preprocess"]
    manifest["model"] = {**spec.to_dict(), "loss": extra["loss"]}
    manifest["training"] = training
    # 3. Evaluate the trained baseline: validation decides, the held-out test split confirms.
    metric, _ = primary_metric(dataset.task)
    val = evaluate_split(model, spec.head, stage, "val")
    baseline = evaluate_split(model, spec.head, stage, "test")
    manifest["quality"] = {"primary_metric": metric, "test": baseline, "validation": val}
    # 4. Quality met? If not, the hyperparameter search (the quality loop) runs.
    quality_checks = check_quality(config.requirements, baseline)
    val_checks = check_quality(config.requirements, val, "validation split")
    missed_any = any(not c.met for c in quality_checks + val_checks)
    if config.tune.when == "always" or (config.tune.when == "missed" and missed_any):
        tick = time.perf_counter()
        resumed = bool(manifest.get("resumed"))
        loop = run_quality_loop(config, stage, run.path, console, quiet, resumed)
        timings["tune_s"] = time.perf_counter() - tick
        manifest["tune"] = loop.summary
        chosen = loop.summary["chosen"]
        carry = (
            loop.model is not None
            and chosen is not None
            and _better(chosen, val, loop.summary["metric"])
        )
        if carry and loop.model is not None and loop.spec is not None and loop.training:
            model, spec = loop.model, loop.spec
            manifest["quality"]["baseline"] = {"test": baseline, "validation": val}
            val = evaluate_split(model, spec.head, stage, "val")
            baseline = evaluate_split(model, spec.head, stage, "test")
            manifest["quality"].update({"test": baseline, "validation": val})
            manifest["model"] = {**spec.to_dict(), "loss": loop.training["loss"]}
            manifest["baseline_training"] = manifest["training"]
            manifest["training"] = loop.training["training"]
            best = apply_params(config, chosen["params"])
            best.tune.when = "never"
            run.write_text("best_config.yaml", _yaml(_public(best)))
            manifest["tune"]["reproduce"] = "zenopt run --config best_config.yaml"
        manifest["tune"]["carried_on"] = f"trial {chosen['number']}" if carry else "baseline"
        quality_checks = check_quality(config.requirements, baseline)
        quality = _tuned_decision(quality_checks, loop.summary, carry)
    else:
        quality = Decision.from_checks(
            "quality",
            quality_checks,
            "missed, and tune.when=never: the trained baseline is carried on unchanged",
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
    paths = {
        "torch": artifacts["spec"],
        "torch_compile": artifacts["spec"],
        "onnxruntime": artifacts["onnx"],
    }
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
    # 7. Efficiency met? A "no" runs the efficiency search (or a configured compress.plan).
    deploy = config.requirements.backend
    drop = measure_drop(config.requirements, baseline, by_backend[deploy], metric)
    manifest["quality"]["drop"] = {
        "backend": deploy,
        "metric": metric,
        "value": drop,
        "mode": config.requirements.quality_drop_mode,
    }
    size_key = "onnx" if deploy == "onnxruntime" else "safetensors"
    torch_size = sizes["safetensors"] + sizes["spec"]
    reference = Reference(profiles["torch"], torch_size) if "torch" in profiles else None
    deploy_size = sizes[size_key] + (sizes["spec"] if size_key == "safetensors" else 0)
    efficiency_checks = check_efficiency(
        config.requirements, profiles[deploy], deploy_size, drop, reference
    )
    efficiency = Decision.from_checks(
        "efficiency",
        efficiency_checks,
        "missed, and compress.search.when=never: the exported baseline is handed back as it is",
    )
    search = config.compress.search
    missed_efficiency = any(not c.met for c in efficiency_checks)
    wants_search = search.when == "always" or (search.when == "missed" and missed_efficiency)
    if config.compress.plan:
        # 8. The configured compression plan: its candidate is what the verdict judges.
        tick = time.perf_counter()
        quality_checks, efficiency_checks, efficiency = compress_stage(
            config, stage, model, spec, artifacts, run, manifest, console, quiet, threads
        )
        timings["compress_s"] = time.perf_counter() - tick
    elif wants_search:
        # 8. The efficiency loop: search plans, hand back the best feasible candidate.
        tick = time.perf_counter()
        quality_checks, efficiency_checks, efficiency = search_stage(
            config,
            stage,
            (model, spec),
            artifacts,
            run,
            manifest,
            (console, quiet),
            threads,
            (quality_checks, efficiency_checks),
        )
        timings["search_s"] = time.perf_counter() - tick
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
    if "compress" in manifest:
        candidate = manifest["compress"]["candidate"]
        manifest["verdict"]["deploy_backend"] = candidate["runtime"]
        manifest["verdict"]["deployed_model"] = candidate["folder"]
    manifest["timings"] = timings
    manifest["status"] = "complete"
    manifest["finished_at"] = _now()
    run.write_manifest(manifest)
    from zenopt.report.html import write_report

    write_report(manifest, run.file("report.html"))
    # 9. The analysis the report shows beyond the verdict (operators, scaling, memory, ceiling,
    # explanations), after the verdict and its report are on disk: an interruption here
    # loses only the analysis.
    tick = time.perf_counter()
    manifest["analysis"] = run_analysis(
        config, stage, model, spec.head, artifacts, run.path, manifest, threads, console, quiet
    )
    timings["analysis_s"] = time.perf_counter() - tick
    run.write_manifest(manifest)
    try:
        write_report(manifest, run.file("report.html"))
    except Exception as exc:  # the verdict's report stays; the analysis is recorded as failed
        manifest["analysis"] = {"errors": {"report": f"{type(exc).__name__}: {first_line(exc)}"}}
        run.write_manifest(manifest)
        write_report(manifest, run.file("report.html"))
    return RunOutcome(run.path, manifest, exit_code)
