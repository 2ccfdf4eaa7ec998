"""``zenopt compare RUN_A RUN_B …``: runs side by side, from their manifest.json alone."""

from __future__ import annotations

from pathlib import Path

import typer

from zenopt.cli.errors import reported_errors

__all__ = ["compare"]


def compare(
    runs: list[Path] | None = typer.Argument(
        None,
        metavar="RUN_DIR",
        show_default=False,
        help="Two or more run folders (the --out of zenopt run); the first is the reference.",
    ),
    html: Path = typer.Option(
        Path("compare.html"), "--html", help="Where to write the HTML comparison."
    ),
    only_differences: bool = typer.Option(
        False, "--only-differences", help="Show only the rows that differ in the console."
    ),
) -> None:
    """Compare runs side by side (metrics, latency, size, plans) in the console and as HTML."""
    with reported_errors():
        from rich.console import Console

        from zenopt.core.errors import ConfigError
        from zenopt.core.rundir import read_manifest
        from zenopt.report.compare import compare_manifests
        from zenopt.report.compare_render import print_comparison, write_comparison_html

        given = runs or []
        if len(given) < 2:
            raise ConfigError(
                f"compare: got {len(given)} run folder(s); pass at least two, "
                "e.g. zenopt compare runs/a runs/b"
            )
        seen: dict[Path, Path] = {}
        for run in given:
            first = seen.get(run.resolve())
            if first is not None:
                raise ConfigError(
                    f"compare: {run} is the same folder as {first}; pass each run once"
                )
            seen[run.resolve()] = run
        comparison = compare_manifests([(str(run), read_manifest(run)) for run in given])
        print_comparison(comparison, Console(), only_differences)
        path = write_comparison_html(comparison, html)
        Console(stderr=True).print(
            f"comparison: {path}", markup=False, highlight=False, soft_wrap=True
        )
