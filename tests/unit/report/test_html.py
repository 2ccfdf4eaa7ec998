from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from tests.conftest import fast_overrides

from zenopt.core.config import load_config
from zenopt.flow import run_pipeline
from zenopt.report.html import render_report

SECTIONS = [
    "verdict",
    "data",
    "training",
    "quality",
    "export",
    "profile",
    "explain",
    "cost",
    "environment",
]


def test_report_has_every_section_and_embeds_its_plots(
    iris_run: tuple[Path, dict[str, Any]],
) -> None:
    run_dir, _ = iris_run
    html = (run_dir / "report.html").read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    # training curves, latency histogram, permutation importance (tests switch the other
    # analysis parts off; tests/integration/test_analysis.py has them all)
    assert len(images) == 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "http://" not in html and "https://" not in html  # nothing to fetch


def test_report_is_rebuilt_from_the_manifest_alone(iris_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = iris_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert render_report(manifest) == (run_dir / "report.html").read_text()


def test_report_shows_the_measured_numbers(iris_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, manifest = iris_run
    html = (run_dir / "report.html").read_text()
    accuracy = manifest["quality"]["test"]["accuracy"]
    assert f"{accuracy:.4g}" in html
    assert "All requirements met." in html


def test_user_strings_are_escaped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    evil = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>"]
    lines = ["a,<b>col</b>,label"]
    for i in range(60):
        label = evil[i % 2]
        lines.append(f'{rng.normal() + (i % 2)},{rng.normal()},"{label}"')
    csv = tmp_path / "evil.csv"
    csv.write_text("\n".join(lines) + "\n")
    config = load_config(
        None, fast_overrides(f"data.source={csv}", "data.target=label", "model.name=mlp")
    )
    outcome = run_pipeline(config, tmp_path / "run", console=Console(quiet=True), quiet=True)
    html = (outcome.run_dir / "report.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<script") == 0


DEATHS = [
    {
        "number": 3,
        "state": "died",
        "worker": "node-a:4121",
        "started_at": "2026-03-02T12:00:20+00:00",
        "last_heartbeat_at": "2026-03-02T12:00:36+00:00",
        "failed_at": "2026-03-02T12:01:07+00:00",
        "silent_s": 31.2,
        "silent_since": "heartbeat",
        "rerun": {
            "number": 9,
            "state": "complete",
            "worker": "node-b:77",
            "started_at": "2026-03-02T12:01:08+00:00",
        },
    },
    {
        "number": 5,
        "state": "interrupted",
        "worker": "node-a:4121",
        "started_at": "2026-03-02T12:02:00+00:00",
        "last_heartbeat_at": None,
        "failed_at": "2026-03-02T12:02:30+00:00",
        "silent_s": 30.0,
        "silent_since": "start",
        "rerun": None,
    },
]


def _deaths_html(manifest: dict[str, Any], loop: str) -> str:
    """The deaths table of one section, rendered as report.html.j2 renders it."""
    from zenopt.report.html import _environment

    template = _environment().from_string(
        '{% from "deaths.html.j2" import deaths_table %}{{ deaths_table(m[loop].deaths) }}'
    )
    return template.render(m=manifest, loop=loop)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.mark.parametrize("loop", ["tune", "search"])
def test_the_trials_whose_worker_died_get_a_table_only_when_there_are_any(loop: str) -> None:
    html = _deaths_html({loop: {"deaths": DEATHS}}, loop)
    text = _text(html)
    assert "Trials whose worker died" in text
    assert html.count("<tr>") == 3  # the head and one row per death
    assert (
        "3 node-a:4121 2026-03-02T12:00:20+00:00 2026-03-02T12:00:36+00:00 "
        "2026-03-02T12:01:07+00:00 31.2 trial 9 (complete) by node-b:77, started "
        "2026-03-02T12:01:08+00:00"
    ) in text
    assert (
        "5 (interrupted) node-a:4121 2026-03-02T12:02:00+00:00 none recorded "
        "2026-03-02T12:02:30+00:00 30 since its start not re-run (tune.retries spent)"
    ) in text
    assert _deaths_html({loop: {"deaths": []}}, loop).strip() == ""
    assert _deaths_html({loop: {}}, loop).strip() == ""  # a manifest from before the list
