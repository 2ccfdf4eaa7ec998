"""The command-line reference, generated from the Typer application itself: each command's
usage, help and options as ``zenopt COMMAND --help`` prints them (the docs site's CLI page is
this module's markdown, so it cannot drift from the code)."""

from __future__ import annotations

import html
from typing import Any

import typer

from zenopt.cli.app import app

__all__ = ["cli_markdown", "command_names"]


def _root() -> Any:
    """The application as Typer's own (vendored) click group."""
    return typer.main.get_command(app)


def command_names() -> list[str]:
    """The commands, in the order ``zenopt --help`` lists them."""
    return list(_root().commands)


def _cell(text: str) -> str:
    # Typer escapes Rich markup in help texts (\[mlflow]); a table cell escapes pipes.
    return " ".join(text.replace("\\[", "[").replace("|", "\\|").split())


def _text(text: str) -> str:
    """A help text for a table cell: ``runs/<data>-<timestamp>`` shown, not taken for a tag."""
    return html.escape(_cell(text), quote=False)


def _command(root: Any, name: str, command: Any) -> list[str]:
    ctx = command.context_class(command, info_name=name, parent=root)
    usage = " ".join(command.collect_usage_pieces(ctx))
    out = [f"### `zenopt {name}`", "", f"    zenopt {name} {usage}", ""]
    out += [(command.help or "").strip(), ""]
    rows = [p.get_help_record(ctx) for p in command.get_params(ctx)]
    rows = [r for r in rows if r is not None and r[0] != "--help"]
    if rows:
        out += ["| option | meaning |", "|---|---|"]
        out += [f"| `{_cell(opts)}` | {_text(meaning)} |" for opts, meaning in rows]
        out.append("")
    return out


def cli_markdown() -> str:
    """Every command's usage line, help text and options table, as Markdown."""
    group = _root()
    root = group.context_class(group, info_name="zenopt")
    out = ["### `zenopt`", "", f"    zenopt {' '.join(group.collect_usage_pieces(root))}", ""]
    out += [(group.help or "").strip(), "", "| option | meaning |", "|---|---|"]
    for param in group.get_params(root):
        record = param.get_help_record(root)
        if record is not None:
            out.append(f"| `{_cell(record[0])}` | {_text(record[1])} |")
    out.append("")
    for name, command in group.commands.items():
        out += _command(root, name, command)
    return "\n".join(out)
