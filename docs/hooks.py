"""MkDocs hooks: the generated parts of the docs site.

A page that holds ``<!-- generated: NAME -->`` gets that part in its place when the site is
built: the CLI reference from the Typer application, the configuration reference from the
pydantic models, the manifest keys from the record types, and the benchmark tables from
``benchmarks/RESULTS.md``. Nothing generated is committed, so nothing can drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- generated: ([a-z]+) -->")


def results_markdown() -> str:
    """``benchmarks/RESULTS.md`` without its own title (the page has one)."""
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines) + "\n"


def _generators() -> dict[str, Callable[[], str]]:
    from zenopt.cli.reference import cli_markdown
    from zenopt.core.config_reference import config_markdown
    from zenopt.core.manifest_keys import manifest_markdown

    return {
        "cli": cli_markdown,
        "config": config_markdown,
        "manifest": manifest_markdown,
        "results": results_markdown,
    }


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Put each generated part in place of its marker; an unknown marker fails the build."""
    generators = _generators()

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in generators:
            known = ", ".join(sorted(generators))
            raise ValueError(f"<!-- generated: {name} -->: no such part; one of {known}")
        return generators[name]()

    return MARKER.sub(fill, markdown)
