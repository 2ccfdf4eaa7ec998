"""Every example on the docs site runs: each page's blocks in order, in a folder of its own
(``tests/docs/runner.py`` says how each kind of block runs, and the tiny budget)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docs.blocks import DOCS, blocks, pages
from tests.docs.runner import Page

RUNNABLE = [p for p in pages() if any(b.runs_here for b in blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUNNABLE, ids=[str(p.relative_to(DOCS.parent)) for p in RUNNABLE])
def test_the_page_s_examples_run(page: Path, tmp_path: Path) -> None:
    with Page(tmp_path) as workspace:
        for block in blocks(page):
            if block.runs_here:
                workspace.run_block(block)
