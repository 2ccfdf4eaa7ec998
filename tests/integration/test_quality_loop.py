"""The quality loop end to end: a poor baseline, a search that reaches the target, the chosen
trial carried on, the report showing it, and a run killed mid-study resumed with --resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
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

EXAMPLE = Path(__file__).parents[2] / "examples" / "tune_breast_cancer.yaml"
QUICK = [item for item in FAST_BENCH if not item.startswith("tune.")]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tuned") / "run"
    config = load_config(EXAMPLE, QUICK)
    outcome = run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    assert outcome.exit_code == 0
    return out, outcome.manifest


@pytest.mark.slow
def test_the_loop_reaches_a_target_the_baseline_misses(tuned: tuple[Path, dict[str, Any]]) -> None:
    out, m = tuned
    baseline = m["quality"]["baseline"]
    assert baseline["validation"]["accuracy"] < 0.96 and "test" not in baseline
    tune = m["tune"]
    chosen = tune["chosen"]
    assert tune["stopped"] == "target met on validation" and chosen["meets"]
    assert tune["carried_on"] == f"trial {chosen['number']}"
    # The trial's value is its validation accuracy; the test split confirms the target.
    assert chosen["value"] == pytest.approx(m["quality"]["validation"]["accuracy"])
    assert chosen["value"] >= 0.96 and m["quality"]["test"]["accuracy"] >= 0.96
    assert m["decisions"]["quality"]["met"] and m["verdict"]["all_met"]
    # What was exported is the chosen trial's architecture.
    spec = json.loads((out / "model.json").read_text())
    for key, value in chosen["params"].items():
        if key.startswith("model.params."):
            assert spec["params"][key.split(".")[-1]] == value
    html = (out / "report.html").read_text()
    assert 'id="tune"' in html and f"trial {chosen['number']}" in html
    assert "optimisation history" in html and "best parameter" in html


@pytest.mark.slow
def test_best_config_reproduces_the_chosen_trial(
    tuned: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, m = tuned
    config = load_config(out / "best_config.yaml", QUICK)
    assert config.tune.when == "never"
    again = run_pipeline(config, tmp_path / "again", console=Console(quiet=True), quiet=True)
    assert again.manifest["quality"]["test"] == m["quality"]["test"]
    assert "tune" not in again.manifest


def _trials(db: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db) as conn:
        try:
            return list(conn.execute("SELECT number, state FROM trials ORDER BY number"))
        except sqlite3.OperationalError:  # Optuna is still creating its tables
            return []


@pytest.mark.slow
def test_a_run_killed_mid_study_resumes_and_loses_only_the_running_trial(tmp_path: Path) -> None:
    config = tmp_path / "slow.yaml"
    config.write_text(
        "data: {source: breast_cancer}\n"
        "model: {name: mlp}\n"
        "train: {epochs: 3, patience: null}\n"
        # No quality target, so no trial can stop the search: the whole budget is used.
        "tune:\n  when: always\n  trials: 6\n  pruner: none\n  space:\n"
        "    train.lr: {type: float, low: 1.0e-3, high: 1.0e-2, log: true}\n"
        "    train.epochs: {type: int, low: 50, high: 70}\n"
    )
    out = tmp_path / "run"
    args = ["-m", "zenopt", "run", "-c", str(config), "-o", str(out), "-q"]
    args += [a for item in QUICK for a in ("--set", item)]
    proc = subprocess.Popen([sys.executable, *args], stderr=subprocess.DEVNULL)
    db = out / "study.db"
    deadline = time.monotonic() + 240
    before: list[tuple[int, str]] = []
    while time.monotonic() < deadline:
        states = _trials(db) if db.exists() else []
        if sum(s == "COMPLETE" for _, s in states) >= 2 and states[-1][1] == "RUNNING":
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            before = _trials(db)
            break
        time.sleep(0.05)
    assert before, "the run never had two finished trials and one running"
    killed = before[-1][0]
    assert before[-1][1] == "RUNNING"  # killed while this one ran
    done_before = [n for n, s in before if s == "COMPLETE"]
    first = json.loads((out / "manifest.json").read_text())
    assert first["status"] == "running"

    result = CliRunner().invoke(app, ["run", "--resume", str(out), "-q"])
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["resumed"]
    tune = m["tune"]
    assert tune["resumed_failed_trials"] == [killed]
    records = {t["number"]: t for t in tune["trials"]}
    assert records[killed]["state"] == "died"
    assert all(records[n]["state"] == "complete" for n in done_before)  # kept, not re-run
    rerun = [t for t in tune["trials"] if t["retry_of"] == killed]
    assert len(rerun) == 1 and rerun[0]["state"] == "complete"
    assert tune["counts"]["counted"] == 6  # the budget held across the restart
    assert tune["stopped"] == "trial budget spent"
    # The resumed sampler never replays: no two trials that ran to the end share parameters
    # (re-seeded with the seed alone, its first draws were trials 0 and 1 again).
    ran = [t for t in tune["trials"] if t["state"] in ("complete", "pruned")]
    params = [json.dumps(t["params"], sort_keys=True) for t in ran]
    assert len(params) == len(set(params)) == 6
    assert tune["counts"]["replays"] == 0  # and not by refusing replays: the sampler moved on


def test_resume_refuses_a_complete_run_and_config_changes(
    tuned: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = tuned
    result = CliRunner().invoke(app, ["run", "--resume", str(out)])
    assert result.exit_code == 2
    assert f"--resume {out}: the run is already complete" in result.output
    result = CliRunner().invoke(app, ["run", "--resume", str(out), "--set", "seed=1"])
    assert result.exit_code == 2
    assert "--resume continues a run with its own config.yaml; drop --config" in result.output


@pytest.mark.slow
def test_a_chosen_trial_whose_model_folder_is_gone_is_retrained_identically(
    tuned: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    import shutil

    import numpy as np

    from zenopt.evaluate.quality import predict_torch
    from zenopt.flow import RunContext
    from zenopt.flow.data import prepare_data
    from zenopt.flow.tune import run_quality_loop
    from zenopt.models import load_deployable

    out, m = tuned
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    config = load_config(copy / "config.yaml")
    stage = prepare_data(config)
    ctx = RunContext(config, stage, copy, Console(quiet=True), quiet=True)
    restored = run_quality_loop(ctx)
    assert restored.summary["restored_from"].endswith(f"trial-{m['tune']['chosen']['number']:05d}")
    folder = Path(restored.summary["restored_from"])  # the study's folder: the fixture's run
    hidden = folder.with_name(folder.name + ".away")
    folder.rename(hidden)  # as if the trial had run on another machine
    try:
        retrained = run_quality_loop(ctx)
    finally:
        hidden.rename(folder)
    assert retrained.summary["restored_from"].startswith("retrained here")
    assert retrained.summary["retrained_value"] == pytest.approx(m["tune"]["chosen"]["value"])
    assert restored.model is not None and retrained.model is not None
    X = stage.prepared.splits.test.X
    np.testing.assert_allclose(
        predict_torch(retrained.model, X), predict_torch(restored.model, X), rtol=0, atol=1e-6
    )
    exported, _ = load_deployable(out)
    np.testing.assert_allclose(predict_torch(exported, X), predict_torch(restored.model, X))


def test_the_search_section_is_rebuilt_from_the_manifest_and_escapes_names(
    tuned: tuple[Path, dict[str, Any]],
) -> None:
    from zenopt.report.html import render_report

    out, _ = tuned
    manifest = json.loads((out / "manifest.json").read_text())
    assert render_report(manifest) == (out / "report.html").read_text()
    manifest["tune"]["study"] = "<script>alert(1)</script>"
    manifest["tune"]["trials"][0]["params"]["train.optimizer"] = "<img src=x onerror=alert(2)>"
    html = render_report(manifest)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html
