"""How the CLI reports a ZenoptError: one red line and exit code 2; ``--debug`` shows more."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from zenopt.core.errors import ZenoptError

__all__ = ["STATE", "err_console", "reported_errors"]

STATE = {"debug": False}
err_console = Console(stderr=True, highlight=False)


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    try:
        yield
    except ZenoptError as exc:
        if STATE["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        raise typer.Exit(130) from None
