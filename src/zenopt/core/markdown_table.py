"""Text for a Markdown table cell, shared by the generated references (CLI, configuration,
manifest): one escape for every table the docs site builds from the code."""

from __future__ import annotations

import html

__all__ = ["cell", "code"]


def cell(text: str) -> str:
    """Plain text in a cell: on one line, pipes escaped, and ``<run>`` shown as written rather
    than taken for an HTML tag."""
    return html.escape(code(text), quote=False)


def code(text: str) -> str:
    """Text inside a code span in a cell: on one line, only the pipes escaped."""
    return " ".join(text.replace("|", "\\|").split())
