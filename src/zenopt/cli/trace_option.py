"""``--trace itt|nvtx``: named ranges for Intel VTune or NVIDIA Nsight Systems (every command
that trains, compresses or times)."""

from __future__ import annotations

import typer

from zenopt.cli.errors import err_console

__all__ = ["TRACE_OPTION", "check_trace", "start_trace"]

TRACE_OPTION = typer.Option(
    None,
    "--trace",
    help="Named ranges for a profiler: itt (Intel VTune) or nvtx (NVIDIA Nsight Systems); "
    "off by default.",
    show_default=False,
)


def check_trace(kind: str | None) -> str | None:
    """``kind`` when it is one of off, itt, nvtx (or None), else a one-line ConfigError."""
    from zenopt.core.errors import ConfigError
    from zenopt.profile.trace import TRACE_KINDS

    if kind is not None and kind not in TRACE_KINDS:
        raise ConfigError(f"--trace {kind!r}: choose from {', '.join(TRACE_KINDS)}")
    return kind


def start_trace(kind: str | None) -> None:
    """Route zenopt's ranges to ``kind`` in this process, saying so when no tool listens."""
    if kind is None:
        return
    from rich.markup import escape

    from zenopt.profile.trace import configure_trace

    note = configure_trace(check_trace(kind) or "off")
    if note:
        err_console.print(f"[yellow]warning:[/] {escape(note)}", soft_wrap=True)
