"""Every example on the docs site runs: each page's blocks in order, in a folder of its own
(``tests/docs/runner.py`` says how each kind of block runs, and the tiny budget). The pages
are split over two files, so that the two pytest workers share them; the getting-started
page and the compression guide stay together (the guide reuses the run the page made)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.docs.blocks import DOCS, Block, blocks, commands, pages
from tests.docs.runner import run_page

GUIDES = DOCS / "guides"
RUNNABLE = [p for p in pages() if any(b.runs_here for b in blocks(p))]
HERE = [p for p in RUNNABLE if p.parent != GUIDES or p.name == "compression.md"]


@pytest.mark.slow
@pytest.mark.parametrize("page", HERE, ids=[str(p.relative_to(DOCS.parent)) for p in HERE])
def test_the_page_s_examples_run(page: Path, tmp_path: Path) -> None:
    check_outputs(run_page(page, tmp_path), tmp_path)


def check_outputs(ran: list[Block], folder: Path) -> None:
    """Each block asserts what it runs (``tests/docs/runner.py``); here, every file or folder
    the page's commands name with ``--out`` or ``--export`` is there afterwards (a run's with a
    complete manifest), so no command was passed over."""
    assert ran
    named = [
        match.group(2)
        for block in ran
        if block.kind == "bash"
        for line in commands(block.text)
        for match in re.finditer(r"(--out|--export) (\S+)", line)
    ]
    for name in named:
        assert (folder / name).exists(), name
        if (folder / name).is_dir() and (folder / name / "manifest.json").exists():
            assert json.loads((folder / name / "manifest.json").read_text())["status"] == "complete"
