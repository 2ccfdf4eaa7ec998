"""``zenopt worker``: run trials of a shared study, on as many processes or machines as wanted."""

from __future__ import annotations

from pathlib import Path

import typer

from zenopt.cli.errors import err_console, reported_errors
from zenopt.cli.trace_option import TRACE_OPTION, start_trace

__all__ = ["worker"]


def worker(
    storage: str = typer.Option(
        ..., "--storage", help="Shared study storage, e.g. postgresql://user:pw@host/db."
    ),
    study: str = typer.Option(..., "--study", help="Name of the study to work on."),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Create the study from this config when it does not exist yet.",
        show_default=False,
    ),
    artifacts: Path | None = typer.Option(
        None,
        "--artifacts",
        help="Shared folder for trial models. Default: the one the study was created with.",
        show_default=False,
    ),
    wait: float = typer.Option(
        60.0, "--wait", help="Seconds to wait for the study's setup to appear.", min=0.0
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Training threads. Default: this host's cores divided by the zenopt processes "
        "working on the study here (recomputed at each trial).",
        show_default=False,
    ),
    trace: str | None = TRACE_OPTION,
) -> None:
    """Join a study and run its trials until the global trial budget is spent or a trial meets
    every quality target. A worker that dies mid-trial is noticed by its missing heartbeats;
    its trial is failed and run again once by another worker. Given an efficiency search's
    study (NAME-compress, made by zenopt run), it runs compression plans instead.
    """
    with reported_errors():
        from zenopt.core.config import load_config
        from zenopt.flow.worker import WorkerOptions, run_worker

        start_trace(trace)
        cfg = load_config(config) if config is not None else None
        options = WorkerOptions(storage, study, artifacts, wait, quiet, threads)
        summary = run_worker(options, cfg, err_console)
        mine = summary["this_worker"]["trials"]
        counts = summary["counts"]
        chosen = summary["chosen"]
        if summary.get("loop") == "compress":
            found = (
                f"chosen trial {chosen['trial']}: {chosen['plan']}" if chosen else "none feasible"
            )
            err_console.print(
                f"worker {summary['this_worker']['id']}: ran {len(mine)} plans · study "
                f"{summary['study']}: {counts['counted']}/{summary['budget_trials']} plans, "
                f"{counts['feasible']} feasible · {found} · {summary['stopped']}"
            )
            return
        best = (
            f"best trial {chosen['number']} ({summary['metric']} {chosen['value']:.4f})"
            if chosen
            else "no finished trial yet"
        )
        err_console.print(
            f"worker {summary['this_worker']['id']}: ran {len(mine)} trials · study "
            f"{summary['study']}: {counts['counted']}/{summary['budget_trials']} counted, "
            f"{counts['pruned']} pruned, {counts['failed']} failed · {best} · "
            f"{summary['stopped']}"
        )
