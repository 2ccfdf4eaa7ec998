"""``zenopt compress RUN --plan`` with a typo: one line naming the position, exit 2, before any
work (the run folder holds only its config, so anything past parsing the plan would fail)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.core.config import load_config

runner = CliRunner()


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        (
            "prune(ratio=0.5) > distill",
            "position 17: expected '->' between steps, found '>'",
        ),
        (
            "prune(ratio=0.5 -> distill",
            "position 16: expected ',' or ')' to close '(' at position 5, found '->'",
        ),
        (
            "prune(ratio=0.5, ratio=0.6) -> quantize ->",
            "position 17: prune: 'ratio' is set twice (first at position 6); keep one",
        ),
    ],
)
def test_a_plan_typo_exits_2_with_one_line(tmp_path: Path, plan: str, expected: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(load_config(None).to_dict()))
    result = runner.invoke(app, ["compress", str(run), "--plan", plan, "-q"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"error: plan {plan!r}: {expected}"]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]  # nothing written
