"""Every example on the docs site runs: each page's blocks in order, in a folder of its own
(``tests/docs/runner.py`` says how each kind of block runs, and the tiny budget). The pages
are split over two files, so that the two pytest workers share them; the getting-started
page and the compression guide stay together (the guide reuses the run the page made)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docs.blocks import DOCS, blocks, pages
from tests.docs.runner import Page

GUIDES = DOCS / "guides"
RUNNABLE = [p for p in pages() if any(b.runs_here for b in blocks(p))]
HERE = [p for p in RUNNABLE if p.parent != GUIDES or p.name == "compression.md"]


def run_page(page: Path, folder: Path) -> None:
    with Page(folder) as workspace:
        for block in blocks(page):
            if block.runs_here:
                workspace.run_block(block)


@pytest.mark.slow
@pytest.mark.parametrize("page", HERE, ids=[str(p.relative_to(DOCS.parent)) for p in HERE])
def test_the_page_s_examples_run(page: Path, tmp_path: Path) -> None:
    run_page(page, tmp_path)
