"""``zenopt compress RUN_DIR --plan …``: apply a compression plan to a finished run's model."""

from __future__ import annotations

from pathlib import Path

import typer

from zenopt.cli.errors import reported_errors
from zenopt.cli.trace_option import TRACE_OPTION, start_trace

__all__ = ["compress"]

PLAN_HELP = (
    "Steps in order, e.g. 'prune(ratio=0.5) -> distill -> quantize(mode=static)'. Methods: "
    "prune, unstructured, distill, quantize, qat, precision, runtime. Default: the run "
    "config's compress.plan."
)


def compress(
    run_dir: Path = typer.Argument(..., help="A finished run folder (the --out of zenopt run)."),
    plan: str | None = typer.Option(None, "--plan", "-p", help=PLAN_HELP, show_default=False),
    name: str | None = typer.Option(
        None, "--name", help="Folder name under RUN_DIR/compressed. Default: from the plan."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="Inference threads. Default: the run's, else all cores."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    trace: str | None = TRACE_OPTION,
) -> None:
    """Compress a run's model with a plan; measure it next to the FP32 baseline.

    Exit code 0 when the candidate meets the run's requirements, 1 when it misses one.
    """
    with reported_errors():
        from rich.console import Console

        from zenopt.compress import parse_plan
        from zenopt.core.config import load_config
        from zenopt.core.errors import ConfigError
        from zenopt.core.rundir import safe_name
        from zenopt.flow.compress import CompressOptions, compress_run
        from zenopt.profile.hostlock import configure_host_lock
        from zenopt.report.console import print_candidate

        start_trace(trace)
        if not (run_dir / "config.yaml").is_file():
            raise ConfigError(f"{run_dir}: no config.yaml here; pass the --out folder of a run")
        run_config = load_config(run_dir / "config.yaml")
        configure_host_lock(run_config.bench.host_lock)
        if plan is not None:
            steps = parse_plan(plan)
        else:
            steps = list(run_config.compress.plan)
            if not steps:
                raise ConfigError(
                    f"{run_dir}: the run's config has no compress.plan; give --plan, e.g. "
                    "--plan 'prune(ratio=0.5) -> distill -> quantize'"
                )
        err = Console(stderr=True)
        options = CompressOptions(safe_name(name) if name else None, threads, quiet)
        result, checks = compress_run(run_dir, steps, err, options)
        print_candidate(result.record, checks, Console())
        err.print(f"candidate: {result.folder}")
        if not all(c.met for c in checks):
            raise typer.Exit(1)
