"""The bad-input contract, shared by the bad-input tables: ``zenopt run`` with these settings
exits 2 with exactly one line, ``error: …``, no escaped exception and no run folder."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from zenopt.cli.app import app


def assert_one_line_error(tmp_path: Path, sets: list[str], expected: str) -> None:
    out = tmp_path / "run"
    args = ["run", "--out", str(out), "-q"]
    for item in sets:
        args += ["--set", item]
    result = CliRunner().invoke(app, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    assert lines == ["error: " + expected]
    assert not out.exists()
