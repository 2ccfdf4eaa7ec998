"""``zenopt profile FILE.onnx --instructions``: instructions per inference of any ONNX file,
counted by Valgrind's callgrind (a CLI test, collected early: it runs valgrind for ~25 s)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.onnx_models import dense_onnx
from typer.testing import CliRunner

from zenopt.cli.app import app

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")


@needs_valgrind
@pytest.mark.slow
def test_profile_counts_instructions_of_an_onnx_file(tmp_path: Path) -> None:
    path = dense_onnx(tmp_path / "dense.onnx", 64, 256)
    out = tmp_path / "profile.json"
    args = ["profile", str(path), "-b", "32", "--repeats", "10", "--json", str(out)]
    result = CliRunner().invoke(app, [*args, "--no-operators", "--no-ceiling", "--instructions"])
    assert result.exit_code == 0, result.output
    assert "instructions per inference" in result.output and "AVX2" in result.output
    counted = json.loads(out.read_text())["instructions"]
    assert counted["threads"] == 1 and counted["batches"] == [32]
    row = counted["models"]["dense.onnx"]["b32"]
    assert len(row["repeats"]) == 3 and 2 * row["spread"] < 0.01
    assert row["per_inference"] == sorted(row["repeats"])[1]
    # The 64×256 product is 16,384 multiply-adds per row, at most 8 per AVX2 instruction: at
    # least 2,048 instructions per row; and it is the bulk of the call (a few times that).
    assert 32 * 2048 < row["per_inference"] < 32 * 2048 * 8
