"""The command-line reference, generated from the Typer application itself: each command's
usage, help and options as ``zenopt COMMAND --help`` prints them (the docs site's CLI page is
this module's markdown, so it cannot drift from the code)."""

from __future__ import annotations

from typing import Any

import typer

from zenopt.cli.app import app
from zenopt.core.markdown_table import cell, code

__all__ = ["cli_markdown", "command_names"]


def _root() -> Any:
    """The application as Typer's own (vendored) click group."""
    return typer.main.get_command(app)


def command_names() -> list[str]:
    """The commands, in the order ``zenopt --help`` lists them."""
    return list(_root().commands)


def _help(text: str) -> str:
    """A help text as it reads in a terminal: Typer escapes Rich markup (``\\[mlflow]``)."""
    return text.replace("\\[", "[")


def _options(ctx: Any, command: Any) -> list[str]:
    """The options table of a command (its ``--help`` left out), as ``--help`` words them."""
    rows = [p.get_help_record(ctx) for p in command.get_params(ctx)]
    rows = [r for r in rows if r is not None and r[0] != "--help"]
    if not rows:
        return []
    table = ["| option | meaning |", "|---|---|"]
    return [*table, *(f"| `{code(opts)}` | {cell(_help(text))} |" for opts, text in rows), ""]


def _command(root: Any, name: str, command: Any) -> list[str]:
    ctx = command.context_class(command, info_name=name, parent=root)
    usage = " ".join(command.collect_usage_pieces(ctx))
    out = [f"### `zenopt {name}`", "", f"    zenopt {name} {usage}", ""]
    return [*out, (command.help or "").strip(), "", *_options(ctx, command)]


def cli_markdown() -> str:
    """Every command's usage line, help text and options table, as Markdown."""
    group = _root()
    root = group.context_class(group, info_name="zenopt")
    out = ["### `zenopt`", "", f"    zenopt {' '.join(group.collect_usage_pieces(root))}", ""]
    out += [(group.help or "").strip(), "", *_options(root, group)]
    for name, command in group.commands.items():
        out += _command(root, name, command)
    return "\n".join(out)
