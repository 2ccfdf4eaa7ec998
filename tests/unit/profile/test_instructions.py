"""Instruction counts: callgrind's dump totals against its own ``callgrind_annotate``, blocks
read in dump order, the ratios the report and ``zenopt compare`` show, and a clean one-line
refusal when valgrind is missing (``zenopt profile --instructions`` on a real file:
tests/cli/test_profile_instructions.py)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.onnx_models import dense_onnx
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.core.config import load_config
from zenopt.core.errors import ConfigError, ProfileError
from zenopt.flow.analysis import _instructions
from zenopt.profile.callgrind_child import dump_total
from zenopt.profile.instructions import (
    INSTALL_HINT,
    read_counts,
    require_valgrind,
    valgrind_note,
)
from zenopt.report.instructions import instruction_compare_rows, instruction_rows

needs_valgrind = pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind")


@needs_valgrind
def test_a_dump_total_is_what_callgrind_annotate_reads(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "/bin/true"],
        check=True,
        capture_output=True,
    )
    annotated = subprocess.run(
        ["callgrind_annotate", str(out)], check=True, capture_output=True, text=True
    ).stdout
    total = re.search(r"^([0-9,]+)\s+\(?[0-9.%)]*\s*PROGRAM TOTALS", annotated, re.MULTILINE)
    assert total is not None, annotated[:500]
    assert dump_total(out) == int(total.group(1).replace(",", "")) > 1000


def test_blocks_are_read_in_dump_order_and_warm_ups_dropped(tmp_path: Path) -> None:
    blocks = [
        ("torch FP32", 1, 1, True, 900),  # the first call, alone: dropped
        ("torch FP32", 1, 4, True, 4400),  # the warm-up block: dropped
        ("torch FP32", 1, 4, False, 4000),
        ("torch FP32", 1, 4, False, 4040),
        ("torch FP32", 1, 4, False, 4020),
        ("chosen", 1, 1, True, 300),
        ("chosen", 1, 1, False, 200),
        ("chosen", 1, 1, False, 200),
        ("chosen", 1, 1, False, 202),
    ]
    labels = []
    for i, (label, batch, calls, warm, total) in enumerate(blocks, start=1):
        (tmp_path / f"callgrind.out.{i}").write_text(f"events: Ir\nsummary: {total}\n")
        labels.append({"label": label, "batch": batch, "calls": calls, "warm": warm})
    (tmp_path / "dumps.json").write_text(json.dumps(labels))
    counts = read_counts(tmp_path)
    torch = counts["torch FP32"]["b1"]
    assert torch["repeats"] == [1000, 1010, 1005] and torch["per_inference"] == 1005
    assert torch["spread"] == pytest.approx(10 / 2 / 1005) and torch["calls"] == 4
    assert counts["chosen"]["b1"]["repeats"] == [200, 200, 202]
    (tmp_path / "callgrind.out.7").write_text("events: Ir\nsummary: 0\n")
    with pytest.raises(ProfileError, match="no instructions counted for chosen"):
        read_counts(tmp_path)


def test_missing_valgrind_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(ConfigError, match=r"apt-get install valgrind"):
        require_valgrind()
    path = dense_onnx(tmp_path / "m.onnx", 8, 4)
    result = CliRunner().invoke(app, ["profile", str(path), "--instructions"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "valgrind is not installed" in lines[0], result.output
    assert "Traceback" not in result.output
    # in a run: a warning up front, and the analysis part recorded as skipped with the reason
    config = load_config(None, ["analysis.instructions=true"])
    note = valgrind_note(config)
    assert note is not None and "apt-get install valgrind" in note
    skipped = _instructions([], np.zeros((2, 8), np.float32), [1], 3)
    assert skipped == {"skipped": INSTALL_HINT}


def _manifest(counts: dict[str, dict[str, float]], speed: dict[str, Any]) -> dict[str, Any]:
    models = {
        label: {
            key: {"per_inference": v, "spread": 0.001, "repeats": [v] * 3, "calls": 4}
            for key, v in by_batch.items()
        }
        for label, by_batch in counts.items()
    }
    return {
        "config": {"requirements": {"latency_batch": 1, "throughput_batch": 64}},
        "speed": {"figures": speed},
        "analysis": {"instructions": {"models": models}},
    }


def test_ratios_sit_next_to_the_session_time_ratios() -> None:
    latency = {"median": 3.1, "low": 2.9, "high": 3.3}
    throughput = {"median": 5.0, "low": 4.5, "high": 5.5}
    manifest = _manifest(
        {
            "torch FP32": {"b1": 400_000.0, "b64": 6_400_000.0},
            "onnxruntime FP32": {"b1": 100_000.0, "b64": 3_200_000.0},
            "chosen": {"b1": 50_000.0, "b64": 800_000.0},
        },
        {"latency_speedup_vs_torch": latency, "throughput_speedup_vs_onnxruntime": throughput},
    )
    rows = {(r["model"], r["batch"]): r for r in instruction_rows(manifest)}
    chosen1, chosen64 = rows["chosen", 1], rows["chosen", 64]
    assert chosen1["ratios"]["torch FP32"] == {"instructions": 8.0, "time": latency}
    assert chosen1["ratios"]["onnxruntime FP32"] == {"instructions": 2.0, "time": None}
    assert chosen64["ratios"]["onnxruntime FP32"] == {"instructions": 4.0, "time": throughput}
    assert chosen64["per_sample"] == 800_000.0 / 64
    # a baseline is compared with the other baseline, never with itself; no time ratio
    assert rows["onnxruntime FP32", 1]["ratios"] == {
        "torch FP32": {"instructions": 4.0, "time": None}
    }
    # compare: the chosen model's counts and ratios, run against run
    other = _manifest(
        {"torch FP32": {"b1": 400_000.0}, "chosen": {"b1": 80_000.0}},
        {},
    )
    compared = {row.label: row for row in instruction_compare_rows([manifest, other])}
    ratio = compared["chosen b1 instruction ratio vs torch FP32"]
    assert ratio.cells == ("8", "5") and ratio.deltas == ("", "0.625×") and ratio.differs
    assert compared["chosen b1 instructions"].cells == ("50,000", "80,000")
