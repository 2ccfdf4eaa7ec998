"""The quality loop's tune box: "quality met? no → tune hyperparameters → train again".

It turns a config into an Optuna study over the search space, trains one configuration per trial
(reporting the validation metric each epoch so hopeless trials are pruned), saves each finished
trial's model to the artifacts folder, and restores the chosen trial for the rest of the flow.
``zenopt worker`` runs the same trials against a shared storage (``zenopt.flow.worker``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.config import ParamSpec, RunConfig
from zenopt.core.errors import ConfigError
from zenopt.core.records import EpochRecord
from zenopt.core.rundir import atomic_write_text, safe_name
from zenopt.evaluate.requirements import QUALITY_TARGETS, check_quality
from zenopt.flow.context import RunContext
from zenopt.flow.data import DataStage
from zenopt.flow.train import build, evaluate_split, train
from zenopt.models import DeployableModel, ModelSpec, load_deployable, save_deployable
from zenopt.models.registry import resolve_model_name
from zenopt.profile.trace import span
from zenopt.report.progress import TuneProgress
from zenopt.tune.hosts import ThreadBudget
from zenopt.tune.search import ReportFn, TrialFn, TrialResult, run_search
from zenopt.tune.space import apply_params, check_space, search_space, space_to_dict
from zenopt.tune.storage import (
    default_study_name,
    normalise_url,
    open_storage,
    redact,
    storage_url,
)
from zenopt.tune.study import (
    ATTR_CONFIG,
    ATTR_SETUP,
    check_compatible,
    fail_interrupted,
    open_study,
)
from zenopt.tune.summary import study_summary

__all__ = [
    "QualityLoopResult",
    "objective_metric",
    "open_quality_study",
    "preflight",
    "run_quality_loop",
    "run_trials",
    "scalar_metrics",
]

LOWER_IS_BETTER = {"mse", "mae"}
REGRESSION_METRICS = {"mse", "mae", "r2"}


@dataclass(frozen=True)
class QualityLoopResult:
    summary: dict[str, Any]
    model: DeployableModel | None  # the chosen trial's model (None: no trial finished)
    spec: ModelSpec | None
    training: dict[str, Any] | None


def objective_metric(config: RunConfig, task: str) -> tuple[str, bool]:
    """The validation metric the study optimises and whether higher is better: ``tune.metric``,
    else the first quality target set, else accuracy (classification) or MSE (regression)."""
    name: str = config.tune.metric
    if name == "auto":
        targets = [
            key
            for field, (key, _) in QUALITY_TARGETS.items()
            if getattr(config.requirements, field) is not None
        ]
        name = targets[0] if targets else ("mse" if task == "regression" else "accuracy")
    if (name in REGRESSION_METRICS) != (task == "regression"):
        raise ConfigError(f"tune.metric={name!r} does not apply to a {task} task; use auto")
    return name, name not in LOWER_IS_BETTER


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _check_model_space(config: RunConfig, stage: DataStage, space: dict[str, Any]) -> None:
    """Build the model once at each end of every model parameter range, before any trial."""
    for key, spec in space.items():
        if key.startswith("model.params."):
            for value in spec.bounds():
                try:
                    build(apply_params(config, {key: value}), stage.dataset, stage.prepared)
                except Exception as exc:
                    raise ConfigError(
                        f"tune.space.{key}: the model cannot be built with {value!r} ({exc}); "
                        "narrow the range or remove the key"
                    ) from None


def make_trial_fn(config: RunConfig, stage: DataStage, artifacts: Path, metric: str) -> TrialFn:
    """One trial: apply the sampled values, build, train (reporting the validation ``metric``
    each epoch), evaluate on validation, save the model to ``artifacts/trial-NNNNN``."""
    dataset = stage.dataset

    def run_trial(params: dict[str, Any], number: int, report: ReportFn) -> TrialResult:
        with span(f"tune trial {number}"):
            return _run_trial(params, number, report)

    def _run_trial(params: dict[str, Any], number: int, report: ReportFn) -> TrialResult:
        trial_config = apply_params(config, params)
        net, spec = build(trial_config, dataset, stage.prepared)

        def on_epoch(record: EpochRecord, model: DeployableModel | np.ndarray) -> None:
            report(record.epoch, float(evaluate_split(model, spec.head, stage, "val")[metric]))

        model, training, extra = train(trial_config, dataset, stage.prepared, net, on_epoch)
        spec = extra.pop("spec", spec)  # a Keras model: what it became
        val = evaluate_split(model, spec.head, stage, "val")
        checks = check_quality(trial_config.requirements, val, "validation split")
        folder = artifacts / f"trial-{number:05d}"
        try:
            save_deployable(model, spec, folder)
            atomic_write_text(
                folder / "training.json", json.dumps({"training": training, **extra}, default=str)
            )
        except OSError as exc:  # a full or read-only shared folder stops the search, clearly
            raise ConfigError(
                f"tune.artifacts: cannot save trial {number} to {folder} ({exc.strerror}); free "
                "space or choose a writable folder"
            ) from None
        attrs = {
            "val": scalar_metrics(val),
            "artifact": str(folder),
            "epochs_run": training["epochs_run"],
            "train_seconds": training["seconds"],
        }
        return TrialResult(float(val[metric]), bool(checks) and all(c.met for c in checks), attrs)

    return run_trial


def _artifacts_dir(config: RunConfig, run_dir: Path, study_name: str) -> Path:
    base = Path(config.tune.artifacts) if config.tune.artifacts else run_dir / "trials"
    folder = (base / safe_name(study_name)).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"tune.artifacts: cannot create {folder} ({exc.strerror}); choose a writable folder"
        ) from None
    return folder


def preflight(config: RunConfig, stage: DataStage) -> None:
    """Everything about ``tune:`` that can be wrong, checked before the run folder is made:
    the space (against the config and the model), the metric, the storage URL, and a shared
    storage's reachability and existing study. Skipped with ``tune.when=never``."""
    if config.tune.when == "never":
        return
    import optuna

    name = resolve_model_name(config.model.name, stage.dataset.kind)
    space = search_space(config, name)
    check_space(config, space)
    _check_model_space(config, stage, space)
    _, maximize = objective_metric(config, stage.dataset.task)
    if config.tune.storage:
        url = config.tune.storage
        study_name = config.tune.study
        normalise_url(url)
        if study_name is None and not url.startswith("sqlite"):
            raise ConfigError(
                f"tune.study: name the study when tune.storage is a shared database "
                f"({redact(url)}); workers join it by that name (--study NAME)"
            )
        storage = open_storage(url, config.tune)
        if study_name is None:
            return
        try:
            study = optuna.load_study(study_name=study_name, storage=storage)
        except KeyError:
            return
        check_compatible(study, space_to_dict(space), "maximize" if maximize else "minimize", url)


def open_quality_study(ctx: RunContext) -> tuple[Any, dict[str, Any], str]:
    """Check the space, then create the study (storing what workers need) or join it; returns
    the study, its setup (the one it was created with) and the storage URL."""
    config, stage, run_dir = ctx.config, ctx.data, ctx.run_dir
    name = resolve_model_name(config.model.name, stage.dataset.kind)
    space = search_space(config, name)
    check_space(config, space)
    _check_model_space(config, stage, space)
    metric, maximize = objective_metric(config, stage.dataset.task)
    url = storage_url(config.tune, run_dir)
    storage = open_storage(url, config.tune)
    study_name = default_study_name(config.tune, run_dir)
    direction = "maximize" if maximize else "minimize"
    setup: dict[str, Any] = {
        "metric": metric,
        "direction": direction,
        "budget_trials": config.tune.trials,
        "timeout_min": config.tune.timeout_min,
        "sampler": config.tune.sampler,
        "pruner": config.tune.pruner,
        "artifacts": str(_artifacts_dir(config, run_dir, study_name)),
        "space": space_to_dict(space),
    }
    attrs = {ATTR_CONFIG: config.to_dict(), ATTR_SETUP: setup}
    study = open_study(
        storage, study_name, direction, config.tune, setup["space"], attrs, config.seed, url
    )
    # Joining an existing study: its own setup (budget and artifacts folder) wins.
    return study, dict(study.user_attrs[ATTR_SETUP]), url


def run_trials(ctx: RunContext, study: Any, setup: dict[str, Any], artifacts: Path) -> str:
    """Run trials; the budget is the study's (global), the time limit this process's own."""
    config = ctx.config
    space = {k: ParamSpec.model_validate(v) for k, v in setup["space"].items()}
    trial_fn = make_trial_fn(config, ctx.data, artifacts, setup["metric"])
    timeout = None if config.tune.timeout_min is None else config.tune.timeout_min * 60
    budget = int(setup["budget_trials"])
    threads = ThreadBudget(config.tune.threads, ctx.warn)
    with TuneProgress(ctx.console, ctx.quiet, setup["metric"]) as progress:
        return run_search(study, space, budget, trial_fn, timeout, progress.update, threads=threads)


def run_quality_loop(ctx: RunContext) -> QualityLoopResult:
    """Search, then restore the chosen trial's model (no retraining: each trial saved it).

    ``ctx.resumed``: the run's own (SQLite) study was left by a killed or interrupted process,
    so a trial it left running (or interrupted) is failed and queued to run again."""
    config, stage = ctx.config, ctx.data
    study, setup, url = open_quality_study(ctx)
    # Only a SQLite study has one owner; on shared storage, live workers' trials are running
    # and heartbeats deal with dead ones.
    own = ctx.resumed and url.startswith("sqlite")
    interrupted = fail_interrupted(study, config.tune.retries) if own else []
    stopped = run_trials(ctx, study, setup, Path(setup["artifacts"]))
    summary = study_summary(study, redact(url), setup, stopped, interrupted)
    chosen = summary["chosen"]
    if chosen is None:
        return QualityLoopResult(summary, None, None, None)
    folder = Path(chosen.get("artifact") or "")
    if chosen.get("artifact") and (folder / "training.json").is_file():
        model, spec = load_deployable(folder)
        saved = json.loads((folder / "training.json").read_text(encoding="utf-8"))
        summary["restored_from"] = str(folder)
        return QualityLoopResult(summary, model, spec, saved)
    # Saved by a worker whose artifacts folder this machine cannot see: retrain the chosen
    # configuration here, seeded like the trial, and record how close it came.
    trial_config = apply_params(config, chosen["params"])
    net, spec = build(trial_config, stage.dataset, stage.prepared)
    model, training, extra = train(trial_config, stage.dataset, stage.prepared, net)
    spec = extra.pop("spec", spec)
    val = evaluate_split(model, spec.head, stage, "val")
    summary["restored_from"] = "retrained here (the trial's model folder is not reachable)"
    summary["retrained_value"] = float(val[setup["metric"]])
    return QualityLoopResult(summary, model, spec, {"training": training, **extra})
