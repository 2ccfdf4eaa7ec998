"""The Typer application: one module per command, registered here."""

from __future__ import annotations

import typer

from zenopt import __version__
from zenopt.cli import (
    compare_cmd,
    compress_cmd,
    predict_cmd,
    profile_cmd,
    report_cmd,
    run_cmd,
    serve_cmd,
    worker_cmd,
)
from zenopt.cli.errors import STATE

__all__ = ["app", "main"]

app = typer.Typer(
    name="zenopt",
    help="Make models fast and small without letting them get worse — every number measured.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zenopt {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    STATE["debug"] = debug


app.command("run")(run_cmd.run)
app.command("tune")(run_cmd.tune)
app.command("worker")(worker_cmd.worker)
app.command("compress")(compress_cmd.compress)
app.command("profile")(profile_cmd.profile)
app.command("report")(report_cmd.report)
app.command("compare")(compare_cmd.compare)
app.command("predict")(predict_cmd.predict)
app.command("serve")(serve_cmd.serve)


def main() -> None:
    app(prog_name="zenopt")
