"""``zenopt run`` and ``zenopt tune``: the whole flow on one configuration."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from zenopt.cli.errors import err_console, reported_errors
from zenopt.cli.trace_option import TRACE_OPTION, check_trace

__all__ = ["run", "tune"]

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="YAML or TOML config file.", show_default=False
)
OUT_OPTION = typer.Option(
    None, "--out", "-o", help="Run folder. Default: runs/<data>-<timestamp>.", show_default=False
)
DATASET_OPTION = typer.Option(
    None, "--dataset", help="Shortcut for --set data.source=NAME.", show_default=False
)
MODEL_OPTION = typer.Option(
    None, "--model", help="Shortcut for --set model.name=NAME.", show_default=False
)
SEED_OPTION = typer.Option(None, "--seed", help="Shortcut for --set seed=N.")
SET_OPTION = typer.Option(
    None, "--set", help="Override one key: section.key=value (repeatable).", show_default=False
)
STORAGE_OPTION = typer.Option(
    None,
    "--storage",
    help="Study storage URL (shortcut for --set tune.storage=URL), e.g. postgresql://…",
    show_default=False,
)
STUDY_OPTION = typer.Option(
    None, "--study", help="Study name (shortcut for --set tune.study=NAME).", show_default=False
)
OVERWRITE_OPTION = typer.Option(False, "--overwrite", help="Replace files in a used --out.")
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No progress bars.")
MLFLOW_OPTION = typer.Option(
    None,
    "--mlflow",
    help="Log the finished run to this MLflow tracking URI, e.g. sqlite:///mlflow.db or "
    "http://host:5000 (needs: pip install 'zenopt\\[mlflow]').",
    show_default=False,
)
MLFLOW_EXPERIMENT_OPTION = typer.Option(
    "zenopt", "--mlflow-experiment", help="MLflow experiment to log into (created if new)."
)


def _default_out(source: str) -> Path:
    stem = Path(source).stem or "run"
    return Path("runs") / f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _resume_config(run_dir: Path, given: list[Any]) -> Any:
    """The interrupted run's own config.yaml; anything that would change it is refused."""
    from zenopt.core.config import load_config
    from zenopt.core.errors import ConfigError

    if any(given):
        raise ConfigError(
            "--resume continues a run with its own config.yaml; drop --config, --set, "
            "--dataset, --model, --seed, --storage, --study and --out"
        )
    config_file = run_dir / "config.yaml"
    manifest_file = run_dir / "manifest.json"
    if not config_file.is_file() or not manifest_file.is_file():
        raise ConfigError(
            f"--resume {run_dir}: not a zenopt run folder (no config.yaml and manifest.json); "
            "pass the --out folder of the interrupted run"
        )
    import json

    try:
        status = json.loads(manifest_file.read_text(encoding="utf-8")).get("status")
    except (OSError, json.JSONDecodeError):
        status = None
    if status == "complete":
        raise ConfigError(
            f"--resume {run_dir}: the run is already complete; start a new run with --out"
        )
    return load_config(config_file)


def _execute(
    config: Path | None,
    out: Path | None,
    sets: list[str],
    overwrite: bool,
    quiet: bool,
    resume: Path | None = None,
    mlflow: tuple[str, str] | None = None,
) -> int:
    """Run the flow; ``mlflow`` (URI, experiment) logs the finished run there, also when it
    missed a requirement. The store is opened first, so a wrong URI fails before training."""
    from rich.console import Console
    from rich.markup import escape

    from zenopt.core.config import load_config

    if resume is not None:
        # --trace changes no result: a resumed run keeps its config's trace unless --trace
        # gives another
        traces = [s.partition("=")[2] for s in sets if s.startswith("trace=")]
        sets = [s for s in sets if not s.startswith("trace=")]
        cfg = _resume_config(resume, [config, out, sets])
        if traces:
            cfg.trace = load_config(None, [f"trace={traces[-1]}"]).trace
        target = resume
    else:
        cfg = load_config(config, sets)
        target = out or _default_out(cfg.data.source)
    tracker = None
    if mlflow is not None:
        from zenopt.track.mlflow_log import connect_mlflow

        tracker = connect_mlflow(*mlflow)

    from zenopt.flow import RunOptions, run_pipeline
    from zenopt.report.console import print_run_summary

    options = RunOptions(overwrite, resume is not None, ["zenopt", *sys.argv[1:]])
    outcome = run_pipeline(cfg, target, console=err_console, quiet=quiet, options=options)
    print_run_summary(outcome.manifest, Console())
    missed = outcome.manifest["verdict"]["missed"]
    if not outcome.manifest["requirements"]:
        verdict = "no requirements set: measured only"
    elif missed:
        verdict = "[bold red]requirements missed[/]: " + escape(", ".join(missed))
    else:
        verdict = "[green]all requirements met[/]"
    err_console.print(f"{verdict} · report: {outcome.run_dir / 'report.html'}")
    if tracker is not None:
        log_to_mlflow(tracker, outcome.manifest, outcome.run_dir)
    return outcome.exit_code


def log_to_mlflow(tracker: Any, manifest: dict[str, Any], run_dir: Path) -> None:
    """Log the run and say where it went (``tracker``: a connected ``MlflowTarget``)."""
    from rich.markup import escape

    from zenopt.track.mlflow_log import log_run
    from zenopt.tune.storage import redact

    run_id = log_run(tracker, manifest, run_dir)
    err_console.print(
        f"mlflow: run {run_id} in experiment {escape(tracker.experiment)!r} at "
        f"{escape(redact(tracker.uri))}",
        soft_wrap=True,
    )


def _shortcuts(
    dataset: str | None,
    model: str | None,
    seed: int | None,
    where: tuple[str | None, str | None, str | None],
    overrides: list[str] | None,
) -> list[str]:
    """The ``--set`` list the shortcut options stand for; ``where``: --storage, --study,
    --trace."""
    sets = list(overrides or [])
    for key, value in (
        ("data.source", dataset),
        ("model.name", model),
        ("seed", seed),
        ("tune.storage", where[0]),
        ("tune.study", where[1]),
        ("trace", where[2]),
    ):
        if value is not None:
            sets.insert(0, f"{key}={value}")
    return sets


def run(
    config: Path | None = CONFIG_OPTION,
    out: Path | None = OUT_OPTION,
    dataset: str | None = DATASET_OPTION,
    model: str | None = MODEL_OPTION,
    seed: int | None = SEED_OPTION,
    overrides: list[str] | None = SET_OPTION,
    storage: str | None = STORAGE_OPTION,
    study: str | None = STUDY_OPTION,
    resume: Path | None = typer.Option(
        None,
        "--resume",
        help="Continue an interrupted run in this folder: finished trials are kept.",
        show_default=False,
    ),
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = QUIET_OPTION,
    mlflow: str | None = MLFLOW_OPTION,
    mlflow_experiment: str = MLFLOW_EXPERIMENT_OPTION,
    trace: str | None = TRACE_OPTION,
) -> None:
    """Train, evaluate, tune if quality is missed, export and profile a model, and check it
    against the requirements.

    Exit code 0: every requirement met. 1: the run completed but missed a requirement (the
    report says which). 2: bad input or configuration.
    """
    with reported_errors():
        sets = _shortcuts(dataset, model, seed, (storage, study, check_trace(trace)), overrides)
        if resume is not None and overwrite:
            from zenopt.core.errors import ConfigError

            raise ConfigError("--resume keeps the run's files; drop --overwrite")
        tracking = (mlflow, mlflow_experiment) if mlflow is not None else None
        code = _execute(config, out, sets, overwrite, quiet, resume, tracking)
    raise typer.Exit(code)


def tune(
    config: Path | None = CONFIG_OPTION,
    out: Path | None = OUT_OPTION,
    dataset: str | None = DATASET_OPTION,
    model: str | None = MODEL_OPTION,
    seed: int | None = SEED_OPTION,
    overrides: list[str] | None = SET_OPTION,
    storage: str | None = STORAGE_OPTION,
    study: str | None = STUDY_OPTION,
    trials: int | None = typer.Option(
        None, "--trials", help="Trial budget (shortcut for --set tune.trials=N).", min=1
    ),
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = QUIET_OPTION,
    mlflow: str | None = MLFLOW_OPTION,
    mlflow_experiment: str = MLFLOW_EXPERIMENT_OPTION,
    trace: str | None = TRACE_OPTION,
) -> None:
    """Run the flow with the hyperparameter search on, even when the baseline meets the
    quality targets (``tune.when=always``). Without targets it spends the whole budget looking
    for the best validation metric. Same exit codes as ``zenopt run``.
    """
    with reported_errors():
        # Shortcuts, then every --set in its order: a --set wins, as for zenopt run.
        tuning = ["tune.when=always", *([f"tune.trials={trials}"] if trials is not None else [])]
        where = (storage, study, check_trace(trace))
        sets = _shortcuts(dataset, model, seed, where, [*tuning, *(overrides or [])])
        tracking = (mlflow, mlflow_experiment) if mlflow is not None else None
        code = _execute(config, out, sets, overwrite, quiet, mlflow=tracking)
    raise typer.Exit(code)
