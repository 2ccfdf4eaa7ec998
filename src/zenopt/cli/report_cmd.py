"""``zenopt report RUN_DIR``: rebuild report.html from manifest.json alone."""

from __future__ import annotations

from pathlib import Path

import typer

from zenopt.cli.errors import reported_errors

__all__ = ["report"]


def report(
    run_dir: Path = typer.Argument(..., help="A run folder (the --out of zenopt run)."),
) -> None:
    """Rebuild a run's report.html from its manifest.json and print its summary."""
    with reported_errors():
        from rich.console import Console

        from zenopt.core.rundir import read_manifest
        from zenopt.report.console import print_run_summary
        from zenopt.report.html import write_report

        manifest = read_manifest(run_dir)
        path = write_report(manifest, run_dir / "report.html")
        print_run_summary(manifest, Console())
        Console(stderr=True).print(f"report: {path}")
