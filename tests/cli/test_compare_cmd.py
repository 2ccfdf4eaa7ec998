from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zenopt.cli.app import app

runner = CliRunner(env={"COLUMNS": "400"})  # wide enough that no table cell wraps


@pytest.fixture
def two_runs(iris_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of the iris run; the second with another seed and 1.5× the ORT b1 p50."""
    run_dir, _ = iris_run
    first, second = tmp_path / "seed0", tmp_path / "seed1"
    shutil.copytree(run_dir, first)
    shutil.copytree(run_dir, second)
    manifest = json.loads((second / "manifest.json").read_text())
    manifest["config"]["seed"] += 1
    manifest["profile"]["onnxruntime"]["latency_ms"]["b1"]["p50"] *= 1.5
    (second / "manifest.json").write_text(json.dumps(manifest))
    return first, second


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


def test_compare_prints_the_differences_and_writes_the_html(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = two_runs
    html = tmp_path / "out" / "cmp.html"
    result = runner.invoke(app, ["compare", str(first), str(second), "--html", str(html)])
    assert result.exit_code == 0, result.output
    assert "≠ seed" in result.output and "(1.5×)" in result.output
    assert f"comparison: {html}" in result.output
    page = html.read_text()
    assert str(first) in page and str(second) in page
    assert '<span class="delta">(1.5×)</span>' in page and '<span class="delta">(+1)</span>' in page


def test_compare_writes_compare_html_in_the_current_folder_by_default(
    two_runs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = runner.invoke(app, ["compare", *map(str, two_runs), "--only-differences"])
    assert result.exit_code == 0, result.output
    assert (work / "compare.html").is_file()
    assert "torch b1 p95 ms" not in result.output  # equal rows left out of the console


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_runs_is_one_line_exit_2(
    two_runs: tuple[Path, Path], tmp_path: Path, count: int
) -> None:
    result = runner.invoke(app, ["compare", *map(str, two_runs[:count])])
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert f"got {count} run folder(s); pass at least two" in line
    assert not (tmp_path / "compare.html").exists()


def test_a_folder_without_a_manifest_is_one_line_exit_2(
    two_runs: tuple[Path, Path], tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["compare", str(two_runs[0]), str(empty)])
    assert result.exit_code == 2
    assert f"{empty}: no manifest.json here" in _one_error_line(result.output)


def test_the_same_folder_twice_is_one_line_exit_2(two_runs: tuple[Path, Path]) -> None:
    first = two_runs[0]
    (first.parent / "sub").mkdir()
    again = first.parent / "sub" / ".." / first.name
    result = runner.invoke(app, ["compare", str(first), str(two_runs[1]), str(again)])
    assert result.exit_code == 2
    line = _one_error_line(result.output)
    assert f"{again} is the same folder as {first}; pass each run once" in line
