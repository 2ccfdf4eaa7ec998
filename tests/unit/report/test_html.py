from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
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
