"""A :class:`~zenopt.report.compare.Comparison` shown in the console (Rich tables, one column
per run) and as a self-contained HTML page (Jinja2, autoescaped, no scripts, nothing fetched)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from zenopt.core.errors import ConfigError
from zenopt.core.rundir import atomic_write_text
from zenopt.report.compare import Comparison, Row

__all__ = ["print_comparison", "render_comparison_html", "write_comparison_html"]

DIFF_MARK = "≠"


def _cell(text: str, delta: str) -> Text:
    # Text, not markup: a model or data name like "[bold]x" is shown as written.
    return Text.assemble(text, (f" ({delta})", "dim") if delta else "")


def _table(title: str, headers: tuple[str, ...], rows: list[Row]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("", no_wrap=True)  # labels stay whole; the run columns wrap instead
    for header in headers:
        table.add_column(Text(header), justify="right", overflow="fold")
    for row in rows:
        label = Text(f"{DIFF_MARK} {row.label}" if row.differs else f"  {row.label}")
        if row.differs:
            label.stylize("bold yellow")
        table.add_row(label, *(_cell(c, d) for c, d in zip(row.cells, row.deltas, strict=True)))
    return table


def print_comparison(
    comparison: Comparison, console: Console, only_differences: bool = False
) -> None:
    """One table per section; rows that differ are marked ≠ and later runs say by how much
    they differ from the first."""
    for section in comparison.sections:
        rows = [r for r in section.rows if r.differs or not only_differences]
        if rows:
            console.print(_table(section.title, comparison.headers, rows))
    if comparison.config_differences:
        rows = list(comparison.config_differences)
        console.print(_table("config differences", comparison.headers, rows))
    else:
        console.print("[dim]config: no differences[/]")
    differing = len(comparison.differing())
    total = sum(len(s.rows) for s in comparison.sections)
    console.print(
        f"{differing} of {total} compared values differ ({DIFF_MARK}); deltas are against "
        f"the first run: pts = percentage points, × = times the first run's value"
    )


def render_comparison_html(comparison: Comparison) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("zenopt.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("compare.html.j2").render(c=comparison, mark=DIFF_MARK)


def write_comparison_html(comparison: Comparison, path: Path) -> Path:
    try:
        atomic_write_text(path, render_comparison_html(comparison))
    except OSError as exc:
        raise ConfigError(
            f"--html {path}: cannot write there ({exc.strerror}); choose another file"
        ) from None
    return path
