"""The quality loop: "requirements met? no → tune hyperparameters → train again".

It turns a config into an Optuna study over the search space, trains one configuration per trial
(reporting the validation metric each epoch so hopeless trials are pruned), saves each finished
trial's model to the artifacts folder, and restores the chosen trial for the rest of the flow.
``zenopt worker`` runs the same trials against a shared storage.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zenopt.core.config import ParamSpec, RunConfig
from zenopt.core.errors import ConfigError
from zenopt.core.records import EpochRecord
from zenopt.core.rundir import atomic_write_text
from zenopt.evaluate.requirements import QUALITY_TARGETS, check_quality
from zenopt.models import DeployableModel, ModelSpec, load_deployable, save_deployable
from zenopt.models.registry import resolve_model_name
from zenopt.report.progress import TuneProgress
from zenopt.stages import DataStage, build, evaluate_split, prepare_data, train
from zenopt.tune.search import ReportFn, TrialFn, TrialResult, run_search, worker_id
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
    "preflight",
    "run_quality_loop",
    "run_worker",
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
        trial_config = apply_params(config, params)
        net, spec = build(trial_config, dataset, stage.prepared)

        def on_epoch(record: EpochRecord, model: DeployableModel) -> None:
            report(record.epoch, float(evaluate_split(model, spec.head, stage, "val")[metric]))

        model, training, extra = train(trial_config, dataset, stage.prepared, net, on_epoch)
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


def safe_name(study_name: str) -> str:
    """The study name as one harmless folder name (``../x`` cannot leave the folder)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", study_name).lstrip(".")
    return cleaned or "study"


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


def _open(config: RunConfig, stage: DataStage, run_dir: Path) -> tuple[Any, dict[str, Any], str]:
    """Check the space, then create the study (storing what workers need) or join it."""
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


def _search(
    config: RunConfig,
    stage: DataStage,
    study: Any,
    setup: dict[str, Any],
    artifacts: Path,
    console: Console,
    quiet: bool,
) -> str:
    """Run trials; the budget is the study's (global), the time limit this process's own."""
    space = {k: ParamSpec.model_validate(v) for k, v in setup["space"].items()}
    trial_fn = make_trial_fn(config, stage, artifacts, setup["metric"])
    timeout = None if config.tune.timeout_min is None else config.tune.timeout_min * 60
    budget = int(setup["budget_trials"])
    with TuneProgress(console, quiet, setup["metric"]) as progress:
        return run_search(study, space, budget, trial_fn, timeout, progress.update)


def run_quality_loop(
    config: RunConfig,
    stage: DataStage,
    run_dir: Path,
    console: Console,
    quiet: bool,
    resume: bool = False,
) -> QualityLoopResult:
    """Search, then restore the chosen trial's model (no retraining: each trial saved it).

    ``resume``: the run's own (SQLite) study was left by a killed or interrupted process, so
    a trial it left running (or interrupted) is failed and queued to run again."""
    study, setup, url = _open(config, stage, run_dir)
    # Only a SQLite study has one owner; on shared storage, live workers' trials are running
    # and heartbeats deal with dead ones.
    own = resume and url.startswith("sqlite")
    interrupted = fail_interrupted(study, config.tune.retries) if own else []
    stopped = _search(config, stage, study, setup, Path(setup["artifacts"]), console, quiet)
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
    val = evaluate_split(model, spec.head, stage, "val")
    summary["restored_from"] = "retrained here (the trial's model folder is not reachable)"
    summary["retrained_value"] = float(val[setup["metric"]])
    return QualityLoopResult(summary, model, spec, {"training": training, **extra})


def run_worker(
    url: str,
    study_name: str,
    config: RunConfig | None,
    artifacts: Path | None,
    wait_s: float,
    console: Console,
    quiet: bool,
) -> dict[str, Any]:
    """Join a study on shared storage and run its trials until the budget is spent or a trial
    meets the targets. With ``config``, create the study when it does not exist yet."""
    if url.startswith("sqlite"):
        raise ConfigError(
            f"--storage {redact(url)}: SQLite cannot be shared safely between worker processes "
            "(no heartbeats, file locking); use postgresql://user:password@host/db"
        )
    if config is not None:
        config = config.model_copy(deep=True)
        config.tune.storage, config.tune.study = url, study_name
        if artifacts is not None:
            config.tune.artifacts = str(artifacts)
        stage = prepare_data(config)
        study, setup, url = _open(config, stage, Path.cwd())
    else:
        storage = open_storage(url, RunConfig().tune, "--storage")
        study = open_study(storage, study_name, None, RunConfig().tune, None, None, 0, url, wait_s)
        config = RunConfig.model_validate(study.user_attrs[ATTR_CONFIG])
        if study.user_attrs[ATTR_SETUP].get("loop") == "compress":  # an efficiency search
            import optuna

            from zenopt.efficiency_loop import run_search_worker

            storage = open_storage(url, config.tune, "--storage")
            study = optuna.load_study(study_name=study_name, storage=storage)
            return run_search_worker(study, console, quiet)
        setup = dict(study.user_attrs[ATTR_SETUP])
        # Heartbeat and retry settings are the study's, whatever the defaults say.
        storage = open_storage(url, config.tune, "--storage")
        study = open_study(storage, study_name, None, config.tune, None, None, config.seed, url)
        stage = prepare_data(config)
    folder = Path(setup["artifacts"])
    if artifacts is not None:
        folder = artifacts.resolve() / safe_name(study_name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--artifacts: cannot create {folder} ({exc.strerror}); pass a writable shared "
            "folder with --artifacts"
        ) from None
    stopped = _search(config, stage, study, setup, folder, console, quiet)
    summary = study_summary(study, redact(url), setup, stopped, [])
    me = worker_id()
    summary["this_worker"] = {
        "id": me,
        "trials": [t["number"] for t in summary["trials"] if t["worker"] == me],
    }
    return summary
