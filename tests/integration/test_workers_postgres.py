"""Scale-out on a real PostgreSQL server (started by the fixture with initdb/pg_ctl in a temp
folder): several `zenopt worker` processes share one study and one global trial budget, and a
worker killed with SIGKILL mid-trial has its trial failed by heartbeat and run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from tests import postgres
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.tune.summary import trial_deaths

pytestmark = pytest.mark.slow

HEARTBEAT_S, GRACE_S = 1, 3

CONFIG = """\
data: {{source: breast_cancer}}
model: {{name: mlp}}
train: {{epochs: 3, patience: null}}
bench: {{confirm_rounds: 3, noise_wait_s: 0, noise_retries: 0, threads: 1}}
tune:
  when: always
  trials: {trials}
  pruner: none
  heartbeat_s: {heartbeat_s}
  grace_s: {grace_s}
  space:
    train.lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
    train.epochs: {{type: int, low: {low}, high: {high}}}
"""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    assert postgres.available(), "PostgreSQL server binaries (initdb, pg_ctl) are needed"
    with postgres.postgres_server() as url:
        yield url


def _config(tmp: Path, trials: int, low: int = 5, high: int = 10) -> Path:
    path = tmp / "worker.yaml"
    path.write_text(
        CONFIG.format(trials=trials, low=low, high=high, heartbeat_s=HEARTBEAT_S, grace_s=GRACE_S)
    )
    return path


def _worker(url: str, study: str, config: Path, artifacts: Path) -> subprocess.Popen[str]:
    args = ["worker", "--storage", url, "--study", study, "--config", str(config)]
    args += ["--artifacts", str(artifacts), "-q"]
    return subprocess.Popen(
        [sys.executable, "-m", "zenopt", *args], stderr=subprocess.PIPE, text=True
    )


def _study(url: str, name: str, storage: Any = None) -> Any:
    storage = storage or optuna.storages.RDBStorage(
        url.replace("postgresql://", "postgresql+psycopg://")
    )
    return optuna.load_study(study_name=name, storage=storage)


def _finish(procs: list[subprocess.Popen[str]]) -> list[str]:
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        errors.append(err)
        assert proc.returncode in (0, -signal.SIGKILL), err
    return errors


def test_four_workers_share_one_budget_without_duplicates(pg_url: str, tmp_path: Path) -> None:
    workers, per_worker = 4, 2
    budget = workers * per_worker
    config = _config(tmp_path, budget)
    artifacts = tmp_path / "shared"
    logs = _finish([_worker(pg_url, "four", config, artifacts) for _ in range(workers)])
    study = _study(pg_url, "four")
    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state.is_finished() and not t.user_attrs.get("skipped")]
    assert len(finished) == budget  # exactly the global budget, not budget + races
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in finished)
    numbers = [t.number for t in finished]
    assert len(set(numbers)) == len(numbers)
    # Each worker samples from its own random stream: no two trials share their values.
    drawn = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(drawn)) == len(drawn)
    # Each finished trial was run by exactly one worker and saved exactly one model folder.
    folders = sorted(p.name for p in (artifacts / "four").iterdir())
    assert folders == [f"trial-{n:05d}" for n in sorted(numbers)]
    assert {t.user_attrs["worker"] for t in finished} <= {
        line.split()[1].rstrip(":")
        for log in logs
        for line in log.splitlines()
        if line.startswith("worker ")
    }
    assert all("trial budget spent" in log for log in logs)


def test_a_killed_worker_s_trial_is_failed_by_heartbeat_and_run_again(
    pg_url: str, tmp_path: Path
) -> None:
    budget = 3
    config = _config(tmp_path, budget, low=60, high=80)  # trials of a second or two
    artifacts = tmp_path / "shared"
    victim = _worker(pg_url, "kill", config, artifacts)  # alone, so it surely runs a trial
    storage = optuna.storages.RDBStorage(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    deadline = time.monotonic() + 180
    killed_trial = None
    while time.monotonic() < deadline and killed_trial is None:
        try:
            running = _study(pg_url, "kill", storage).get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
            )
        except KeyError:  # the study is not created yet
            running = []
        for trial in running:
            mine = str(trial.user_attrs.get("worker", "")).endswith(f":{victim.pid}")
            if mine and trial.params:  # its parameters are drawn: training has started
                os.kill(victim.pid, signal.SIGKILL)
                killed_at = datetime.now(UTC)
                killed_trial = trial
                break
        time.sleep(0.1)
    assert killed_trial is not None, "the victim never ran a trial"
    victim.wait()
    # A new worker finds the dead trial silent past the grace period, fails and re-runs it.
    _finish([_worker(pg_url, "kill", config, artifacts)])
    study = _study(pg_url, "kill")
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    dead = trials[killed_trial.number]
    assert dead.state == optuna.trial.TrialState.FAIL and "error" not in dead.user_attrs
    reruns = [t for t in trials.values() if t.system_attrs.get("failed_trial") == dead.number]
    assert len(reruns) == 1  # retried once
    assert reruns[0].state == optuna.trial.TrialState.COMPLETE
    assert reruns[0].params == dead.params
    counted = [
        t
        for t in trials.values()
        if t.state == optuna.trial.TrialState.COMPLETE and not t.user_attrs.get("skipped")
    ]
    assert len(counted) == budget  # the study completed its budget despite the death
    _check_the_death_figures(study, dead, reruns[0], victim.pid, killed_at)


def _check_the_death_figures(
    study: Any, dead: Any, rerun: Any, victim: int, killed_at: datetime
) -> None:
    """The summary's figures for the killed trial, against Optuna's own records and the time
    of the kill: its last heartbeat came at most one heartbeat period before the kill."""
    (death,) = trial_deaths(study)
    second = timedelta(seconds=1)  # the summary's times are to the second
    assert death["number"] == dead.number and death["state"] == "died"
    assert death["worker"] == dead.user_attrs["worker"] and death["worker"].endswith(f":{victim}")
    started = datetime.fromisoformat(death["started_at"])
    beat = datetime.fromisoformat(death["last_heartbeat_at"])
    failed = datetime.fromisoformat(death["failed_at"])
    assert abs(started - dead.datetime_start.astimezone(UTC)) < second
    assert abs(failed - dead.datetime_complete.astimezone(UTC)) < second
    assert started - second <= beat <= killed_at + second
    assert beat >= killed_at - timedelta(seconds=HEARTBEAT_S) - 2 * second
    assert started < failed
    # Failed once silent for the grace period, by the next worker's check: that worker starts
    # after the kill (imports, data), so the silence may run past the grace period by that.
    assert death["silent_since"] == "heartbeat"
    assert GRACE_S - 0.5 <= death["silent_s"] <= GRACE_S + HEARTBEAT_S + 60
    assert death["silent_s"] <= (failed - killed_at).total_seconds() + HEARTBEAT_S + 2
    assert death["rerun"]["number"] == rerun.number
    assert death["rerun"]["state"] == "complete"
    assert death["rerun"]["worker"] == rerun.user_attrs["worker"] != death["worker"]
    assert (
        abs(
            datetime.fromisoformat(death["rerun"]["started_at"])
            - rerun.datetime_start.astimezone(UTC)
        )
        < second
    )


def test_a_worker_for_a_missing_study_or_a_different_space_exits_2(
    pg_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["worker", "--storage", pg_url, "--study", "absent", "--wait", "0"])
    assert result.exit_code == 2
    assert "--study 'absent': no such study in postgresql://zenopt@127.0.0.1" in result.output
    shared = ["--artifacts", str(tmp_path / "shared")]
    created = runner.invoke(
        app,
        [
            "worker",
            "--storage",
            pg_url,
            "--study",
            "space",
            "-c",
            str(_config(tmp_path, 1)),
            *shared,
        ],
    )
    assert created.exit_code == 0, created.output
    (tmp_path / "other").mkdir()
    other = _config(tmp_path / "other", 1, low=11, high=20)
    result = runner.invoke(
        app, ["worker", "--storage", pg_url, "--study", "space", "-c", str(other), *shared]
    )
    assert result.exit_code == 2
    assert "already exists with a different search space (differs at train.epochs)" in (
        result.output
    )


def test_a_worker_without_config_joins_the_study_a_run_creates(pg_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, 4, low=40, high=60)
    # Started first: it waits for the study, then reads data, space and budget from it.
    args = ["worker", "--storage", pg_url, "--study", "joined", "--wait", "120", "-q"]
    joiner = subprocess.Popen(
        [sys.executable, "-m", "zenopt", *args], stderr=subprocess.PIPE, text=True
    )
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            *("run", "-c", str(config), "-o", str(out), "-q"),
            *("--storage", pg_url, "--study", "joined"),
            *("--set", f"tune.artifacts={tmp_path / 'shared'}"),
        ],
    )
    assert result.exit_code == 0, result.output
    (log,) = _finish([joiner])
    assert "study joined: 4/4 counted" in log
    trials = _study(pg_url, "joined").get_trials(deepcopy=False)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tune"]["counts"]["counted"] == 4 and manifest["tune"]["storage"] == pg_url


def test_a_worker_runs_plans_of_the_efficiency_search(pg_url: str, tmp_path: Path) -> None:
    """A worker started before the run joins its efficiency search (NAME-compress) and runs
    plans; the budget holds across both processes and the run's summary has them all."""
    from rich.console import Console
    from tests.integration.test_efficiency_search import BASE

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    args = ["worker", "--storage", pg_url, "--study", "eff-compress", "--wait", "120", "-q"]
    joiner = subprocess.Popen(
        [sys.executable, "-m", "zenopt", *args], stderr=subprocess.PIPE, text=True
    )
    overrides = [
        *BASE,
        f"tune.storage={pg_url}",
        "tune.study=eff",
        "tune.heartbeat_s=1",
        "tune.grace_s=3",
        # a budget the run cannot spend alone before the worker, which measures its own
        # baseline once the study appears, is ready: with 3 plans of ~3 s the worker's first
        # one started 2 s after the run's, and on a busy CI machine the run once ran all three
        "compress.search.trials=5",
        "compress.search.space.prune_ratio=[0.3, 0.4, 0.5, 0.6, 0.7]",
    ]
    outcome = run_pipeline(
        load_config(None, overrides), tmp_path / "run", console=Console(quiet=True), quiet=True
    )
    (log,) = _finish([joiner])
    finished = [
        t
        for t in _study(pg_url, "eff-compress").get_trials(deepcopy=False)
        if t.state.is_finished() and not (t.user_attrs.get("skipped") or t.user_attrs.get("free"))
    ]
    assert len(finished) == 5  # one budget for the run and the worker together
    assert len({t.user_attrs["worker"] for t in finished}) == 2  # both ran plans
    search = outcome.manifest["search"]
    assert search["counts"]["counted"] == 5 and len(search["workers"]) == 2
    assert "study eff-compress: 5/5 plans" in log
