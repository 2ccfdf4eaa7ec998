"""Every example of the guides runs (but the compression guide's: ``test_doc_examples.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.docs.blocks import DOCS
from tests.docs.runner import run_page
from tests.docs.test_doc_examples import GUIDES, HERE, RUNNABLE, check_outputs

PAGES = [p for p in RUNNABLE if p not in HERE]


def test_every_runnable_page_is_run_by_one_of_the_two_files() -> None:
    assert sorted(PAGES + HERE) == sorted(RUNNABLE) and all(p.parent == GUIDES for p in PAGES)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS.parent)) for p in PAGES])
def test_the_guide_s_examples_run(page: Path, tmp_path: Path) -> None:
    check_outputs(run_page(page, tmp_path), tmp_path)
