"""The report of a run that went through every stage, opened in headless Chromium: it loads
without a console error, a page error or a network request, shows every section and every
plot, and leaves a full-page screenshot in the test artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console

from tests.integration.test_efficiency_search import BASE
from zenopt.core.config import load_config
from zenopt.flow import run_pipeline

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import PageLog

# Every <section id> of a run that went through every stage, in page order ("memory", which
# needs a fresh process per runtime, is switched off in this run and checked in
# tests/integration/test_analysis.py). A new section in the report template belongs here too.
SECTIONS = [
    "verdict",
    "data",
    "training",
    "tune",
    "quality",
    "export",
    "profile",
    "compress",
    "search",
    "operators",
    "scaling",
    "ceiling",
    "explain",
    "cost",
    "environment",
]

# The cheapest run with both searches (tests/integration/test_efficiency_search.py's BASE):
# digits at 16×16, one epoch, up to two hyperparameter trials over the learning rate alone (the
# model's default space would draw trials of up to 40 epochs), then plans until the first
# feasible. A table model is cheaper but too fast for any plan to beat the timing noise.
EVERY_STAGE = [
    *BASE,
    "requirements.min_accuracy=0.3",
    "requirements.max_quality_drop=0.2",
    "tune.when=always",
    "tune.trials=2",
    "tune.startup_trials=2",
    "tune.space={train.lr: {type: float, low: 0.001, high: 0.03, log: true}}",
    "compress.search.when=always",
    "compress.search.trials=2",
    "compress.search.stop=first_feasible",
    "compress.search.rounds=3",
    "compress.search.space.prune_ratio=[0.5, 0.6]",
    "analysis.operators=true",
    "analysis.scaling=true",
    "analysis.ceiling=true",  # memory (a fresh process per runtime) stays off here: its
    "analysis.saliency_images=4",  # section is checked in tests/integration/test_analysis.py
]


@pytest.fixture(scope="module")
def every_stage_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("browser") / "run"
    config = load_config(None, EVERY_STAGE)
    outcome = run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    return out, outcome.manifest


@pytest.mark.slow
def test_report_loads_cleanly_with_every_section_and_plot(
    every_stage_run: tuple[Path, dict[str, Any]],
    report_page: tuple[Page, PageLog],
    screenshot_path: Path,
) -> None:
    run_dir, manifest = every_stage_run
    missing_stages = [s for s in ("tune", "search", "compress") if not manifest.get(s)]
    assert not missing_stages, f"the fixture run skipped a stage: {missing_stages}"
    page, log = report_page
    url = (run_dir / "report.html").resolve().as_uri()
    page.goto(url, wait_until="load")
    page.screenshot(path=str(screenshot_path), full_page=True)

    assert log.problems(url) == {}, f"every request: {log.requests}"
    assert log.requests[0] == url  # the listener saw the page itself: it was listening

    shown = page.eval_on_selector_all("body > section", "nodes => nodes.map(n => n.id)")
    assert shown == SECTIONS, (
        f"the page shows the sections {shown}, SECTIONS lists {SECTIONS}: a section is missing"
        " or out of order, or the template gained one (then add it to SECTIONS)"
    )
    for section in SECTIONS:
        assert page.locator(f"section#{section}").is_visible(), section

    images = page.eval_on_selector_all(
        "img",
        "nodes => nodes.map(n => ({alt: n.alt, loaded: n.complete && n.naturalWidth > 0,"
        " src: n.currentSrc.slice(0, 22)}))",
    )
    alts = {image["alt"] for image in images}
    for plot in ("training curves", "optimisation history", "latency histogram"):
        assert plot in alts, f"{plot!r} not in {sorted(alts)}"
    assert any(alt.startswith("Pareto front") for alt in alts), sorted(alts)
    assert all(image["loaded"] for image in images), images
    assert all(image["src"] == "data:image/png;base64," for image in images), images
    assert screenshot_path.stat().st_size > 10_000
