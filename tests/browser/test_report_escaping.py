"""User-provided strings reach the report as text, never as markup: a run whose class labels,
column names, file name and command line carry script payloads is opened in headless Chromium,
and none of the payloads runs. Each payload would set ``window.__pwned`` (the canary), open a
dialog or request ``x`` if it were parsed as HTML."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from rich.console import Console

from tests.conftest import fast_overrides
from zenopt.core.config import load_config
from zenopt.flow import RunOptions, run_pipeline

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.conftest import PageLog

LABELS = ["<script>window.__pwned=1;alert(1)</script>", '<img src=x onerror="window.__pwned=2">']
COLUMN = "<script>window.__pwned=3</script>"  # a text column: the report lists its name
TARGET = "<svg onload=window.__pwned=4>"  # the target column: named on the command line
FILE_NAME = "<img src=x onerror=window.__pwned=5>.csv"  # no "/": it is one path component
EVIL = [*LABELS, COLUMN, TARGET, FILE_NAME.removesuffix(".csv")]


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _evil_csv(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = [",".join(map(_quoted, ["a", "b", COLUMN, TARGET]))]
    for i in range(80):
        values = [f"{rng.normal() + i % 2:.4f}", f"{rng.normal():.4f}", "xy"[i % 2], LABELS[i % 2]]
        rows.append(",".join(map(_quoted, values)))
    path = folder / FILE_NAME
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow
def test_script_laden_names_are_shown_as_text_and_never_run(
    tmp_path: Path, report_page: tuple[Page, PageLog], screenshot_path: Path
) -> None:
    csv = _evil_csv(tmp_path)
    overrides = fast_overrides(f"data.source={csv}", f"data.target={TARGET}", "model.name=mlp")
    out = tmp_path / "run"
    command = ["zenopt", "run", "--out", str(out), *(f"--set={item}" for item in overrides)]
    config = load_config(None, overrides)
    options = RunOptions(command=command)
    run_pipeline(config, out, console=Console(quiet=True), quiet=True, options=options)
    page, log = report_page
    url = (out / "report.html").resolve().as_uri()
    page.goto(url, wait_until="load")
    page.screenshot(path=str(screenshot_path), full_page=True)

    assert log.problems(url) == {}, f"every request: {log.requests}"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("script").count() == 0
    handlers = page.evaluate(
        "Array.from(document.querySelectorAll('*')).flatMap(e =>"
        " e.getAttributeNames().filter(a => a.startsWith('on')).map(a => e.tagName + ' ' + a))"
    )
    assert handlers == []
    assert page.locator("svg").count() == 0 and page.locator("img:not([src^='data:'])").count() == 0
    text = page.locator("body").inner_text()
    shown = [evil for evil in EVIL if evil in text]
    assert shown == EVIL, f"not shown as text: {sorted(set(EVIL) - set(shown))}"
    assert FILE_NAME.removesuffix(".csv") in page.title()


def test_the_checks_catch_a_payload_that_is_not_escaped(
    tmp_path: Path, report_page: tuple[Page, PageLog]
) -> None:
    """The control: the same payloads pasted in unescaped do run, and each check sees it."""
    page_file = tmp_path / "unescaped.html"
    page_file.write_text(f"<!DOCTYPE html><html><body><p>{''.join(LABELS)}</p></body></html>")
    page, log = report_page
    url = page_file.as_uri()
    page.goto(url, wait_until="load")
    page.wait_for_function("window.__pwned === 2")  # the onerror fires once "x" fails to load
    problems = log.problems(url)
    assert problems["dialogs"] == ["alert: 1"]
    assert problems["requests"] == [page_file.with_name("x").as_uri()]
    assert page.locator("script").count() == 1
