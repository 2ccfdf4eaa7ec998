"""The efficiency loop end to end, on digits at 16×16 with one training epoch and a short
fine-tune: the plans searched (channel pruning, about 3× the ONNX Runtime FP32 baseline here)
are faster by far more than this shared machine's timing noise, so the tests are robust.

- ``stop: first_feasible`` stops at the first feasible plan; ``budget`` (in the resume test)
  spends the whole budget and keeps the fastest feasible plan.
- An infeasible requirement gives exit 1, the baseline handed back, the closest candidates
  with what each misses, in the manifest, on the console and in the report.
- A run killed (SIGKILL) mid-search resumes with ``--resume`` and loses at most the candidate
  that was running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.conftest import FAST_BENCH
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.core.config import load_config
from zenopt.flow import run_pipeline

BASE = [
    *(item for item in FAST_BENCH if not item.startswith("compress.")),
    "data.source=digits",
    "data.resize=16",
    "data.test_fraction=0.15",
    "model.name=mnist_cnn",
    "train.epochs=1",
    "train.patience=null",
    "requirements.min_size_reduction=2",  # the FP32 baseline is 1×: the search runs
    "requirements.max_quality_drop=0.1",
    "compress.search.rounds=4",
    "compress.search.prune_epochs=1",
    "compress.search.startup_trials=2",
    "compress.search.space.distill=[false]",
    "compress.search.space.quantize=[none]",
    "compress.search.space.precision=[none]",
    "compress.search.space.runtime=[onnxruntime]",
    "compress.search.space.threads=[null]",
]


def _run(out: Path, *extra: str) -> dict[str, Any]:
    config = load_config(None, [*BASE, *extra])
    outcome = run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    assert outcome.manifest["verdict"]["exit_code"] == outcome.exit_code
    return outcome.manifest


@pytest.mark.slow
def test_first_feasible_stops_at_the_first_feasible_plan(tmp_path: Path) -> None:
    first = _run(
        tmp_path / "first",
        "compress.search.space.prune_ratio=[0.5, 0.6]",
        "compress.search.trials=3",
        "compress.search.stop=first_feasible",
    )
    search = first["search"]
    assert search["counts"]["counted"] == 1 and search["counts"]["feasible"] == 1
    assert search["stopped"] == "a feasible plan was found (stop: first_feasible)"
    assert first["verdict"]["all_met"] and first["verdict"]["exit_code"] == 0
    assert first["verdict"]["deployed_model"] == "search/trial-00000"
    chosen = first["compress"]["candidate"]
    assert chosen["acceptance"]["accepted"] and chosen["quality_drop"] <= 0.1
    # Faster than the FP32 baseline beyond noise, at both measured batches.
    for speed in chosen["speed_vs_baseline"]:
        assert speed["faster"] and speed["ratio"] > 1
        assert speed["candidate"]["high"] < speed["baseline"]["low"] or (
            speed["candidate"]["low"] > speed["baseline"]["high"]
        )
    folder = tmp_path / "first" / chosen["folder"]
    assert (folder / "model.onnx").is_file() and (folder / "model.json").is_file()
    reproduce = search["reproduce"]
    assert reproduce.startswith("zenopt compress ") and chosen["plan"] in reproduce


@pytest.mark.slow
def test_infeasible_requirement_exits_1_with_the_closest_candidates(tmp_path: Path) -> None:
    manifest = _run(
        tmp_path / "run",
        "requirements.min_accuracy=0.9999",  # no model reaches it, the baseline included
        "compress.search.trials=1",
        "compress.search.space.prune_ratio=[0.6]",
    )
    assert manifest["verdict"]["exit_code"] == 1
    assert "deployed_model" not in manifest["verdict"]  # the baseline is handed back
    search = manifest["search"]
    assert search["chosen"] is None and search["closest"]
    for row in search["closest"]:
        assert "min_accuracy" in row["missed"]
    decision = manifest["decisions"]["efficiency"]
    assert not decision["met"] and "none is feasible" in decision["action"]
    assert f"trial {search['closest'][0]['trial']}" in decision["action"]
    html = (tmp_path / "run" / "report.html").read_text()
    assert "No plan is feasible" in html


def _front(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / "search" / "front.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


@pytest.mark.slow
def test_a_run_killed_mid_search_resumes_and_loses_at_most_one_candidate(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["-m", "zenopt", "run", "-o", str(out), "-q"]
    extra = ["compress.search.trials=2", "compress.search.space.prune_ratio=[0.5, 0.6]"]
    args += [a for item in [*BASE, *extra] for a in ("--set", item)]
    proc = subprocess.Popen([sys.executable, *args], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    before: dict[str, Any] | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        front = _front(out)
        if front and front["counts"]["trials"] >= 1:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            before = _front(out)
            break
        time.sleep(0.05)
    assert before is not None, "the search never finished a candidate before the run ended"
    done = {r["trial"]: r for r in before["candidates"]}
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"

    result = CliRunner().invoke(app, ["run", "--resume", str(out), "-q"])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["resumed"]
    after = {r["trial"]: r for r in m["search"]["candidates"]}
    for number, row in done.items():  # what was measured before the kill is kept, not redone
        assert after[number]["plan"] == row["plan"]
        assert after[number]["seconds"] == row["seconds"]
    search = m["search"]
    rerun = search["interrupted_trials_rerun"]
    assert len(rerun) <= 1  # at most the trial that was running is lost and run again
    # stop: budget (the default) spends the whole budget, across the restart, although a
    # feasible plan came early, and keeps the fastest feasible plan.
    assert search["counts"]["counted"] == 2 and search["stopped"] == "trial budget spent"
    feasible = [r for r in search["candidates"] if r["feasible"] and r["same_as"] is None]
    fastest = min(feasible, key=lambda r: r["latency_ms"])
    chosen = search["chosen"]
    assert chosen["feasible"]
    if chosen["trial"] != fastest["trial"]:  # as fast within noise, and better on validation
        low, high = fastest["speed_ci"]["latency"]
        assert chosen["speed_ci"]["latency"][0] <= high and low <= chosen["speed_ci"]["latency"][1]
        assert chosen["validation"] >= fastest["validation"]
    assert m["verdict"]["deployed_model"] == m["compress"]["candidate"]["folder"]
    best = json.loads((out / "search" / "best.json").read_text())
    assert best["trial"] == search["chosen"]["trial"]
    html = (out / "report.html").read_text()
    assert 'id="search"' in html and "Pareto front" in html and "Reproduce:" in html
