"""Headless Chromium for the report tests: the Debian ``chromium`` package (``make test``
installs it with apt-get), driven by Playwright through ``executable_path``. Playwright's own
browser downloads are never used, so the tests run offline.

A missing browser or driver fails the tests with what to do: a skipped browser test would let
a broken report land unnoticed.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request

REPO = Path(__file__).parents[2]
INSTALL_HINT = "run `make test`, whose set-up step installs it (apt-get install chromium)"


def chromium_executable() -> str:
    """The system Chromium, or a failure that says how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.access("/usr/bin/chromium", os.X_OK):
        found = "/usr/bin/chromium"
    if found is None:
        pytest.fail(f"Chromium is not installed (no `chromium` on PATH): {INSTALL_HINT}.")
    return found


# Per module, not per session: Playwright's sync API keeps an event loop running in this
# process while it is open, and a later test in the same pytest worker that starts its own
# (asyncio.run, the serving tests) would fail with "cannot be called from a running loop".
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `make test` (it installs the dev extra).")
    with sync_playwright() as playwright:
        # Playwright passes --no-sandbox by default, which Chromium needs when run as root (CI).
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@dataclass
class PageLog:
    """Everything the page did that a self-contained, script-free report must not do."""

    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        self.console.append((message.type, message.text))

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def problems(self, page_url: str) -> dict[str, Any]:
        """Console errors and warnings, page errors, dialogs and any request for something
        other than the page itself or an inline ``data:`` URL; empty when the page is clean."""
        found: dict[str, Any] = {
            "console": [
                (kind, text) for kind, text in self.console if kind in {"error", "warning"}
            ],
            "page_errors": self.page_errors,
            "dialogs": self.dialogs,
            "requests": [u for u in self.requests if u != page_url and not u.startswith("data:")],
        }
        return {key: value for key, value in found.items() if value}


@pytest.fixture
def report_page(chromium: Browser) -> Iterator[tuple[Page, PageLog]]:
    """A fresh context per test (no shared cache or storage), listened to from the start."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    log = PageLog()
    opened.on("console", log.on_console)
    opened.on("pageerror", lambda error: log.page_errors.append(str(error)))
    opened.on("dialog", log.on_dialog)
    context.on("request", log.on_request)  # the context's: it also sees workers' requests
    yield opened, log
    context.close()


@pytest.fixture
def screenshot_path(request: pytest.FixtureRequest) -> Path:
    """Where this test's screenshot goes: ``$ZENOPT_TEST_ARTIFACTS`` or ``test-artifacts/``,
    named after the test so that parallel workers never write the same file."""
    folder = Path(os.environ.get("ZENOPT_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    return folder / f"report-{name}.png"
