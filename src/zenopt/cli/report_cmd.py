"""``zenopt report RUN_DIR``: rebuild report.html from manifest.json alone; ``--mlflow``
logs the run to MLflow after the fact."""

from __future__ import annotations

from pathlib import Path

import typer

from zenopt.cli.errors import reported_errors
from zenopt.cli.run_cmd import MLFLOW_EXPERIMENT_OPTION, MLFLOW_OPTION

__all__ = ["report"]


def report(
    run_dir: Path = typer.Argument(..., help="A run folder (the --out of zenopt run)."),
    mlflow: str | None = MLFLOW_OPTION,
    mlflow_experiment: str = MLFLOW_EXPERIMENT_OPTION,
) -> None:
    """Rebuild a run's report.html from its manifest.json and print its summary; with
    --mlflow, also log the run (params, metrics, files) to MLflow."""
    with reported_errors():
        from rich.console import Console

        from zenopt.core.rundir import read_manifest
        from zenopt.report.console import print_run_summary
        from zenopt.report.html import write_report

        manifest = read_manifest(run_dir)
        tracker = None
        if mlflow is not None:  # opened first: a wrong URI changes nothing in the folder
            from zenopt.track.mlflow_log import connect_mlflow

            tracker = connect_mlflow(mlflow, mlflow_experiment)
        path = write_report(manifest, run_dir / "report.html")
        print_run_summary(manifest, Console())
        Console(stderr=True).print(f"report: {path}")
        if tracker is not None:
            from zenopt.cli.run_cmd import log_to_mlflow

            log_to_mlflow(tracker, manifest, run_dir)
