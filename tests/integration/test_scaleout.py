"""Scale-out that scales, on a real PostgreSQL server with real processes: the efficiency
search's budget, free allowance and repeat answers are the study's, exact with 1, 2 and 3
processes; and co-located processes divide the host's cores for training."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from tests import postgres

from zenopt.flow.efficiency.setup import FREE_TRIALS
from zenopt.tune.hosts import host_cores
from zenopt.tune.study import budget_used

pytestmark = pytest.mark.slow

# Plans rejected in seconds, all of them: every trial is free until the one allowance of
# FREE_TRIALS per counted plan is spent, and only then do trials count.
PLANS = ["slow-a", "slow-b", "slow-c"]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    assert postgres.available(), "PostgreSQL server binaries (initdb, pg_ctl) are needed"
    with postgres.postgres_server() as url:
        yield url


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_one_budget_one_allowance_one_measurement_per_plan(
    pg_url: str, tmp_path: Path, processes: int
) -> None:
    url = pg_url.replace("postgresql://", "postgresql+psycopg://")
    name, budget = f"probe-{processes}", 3
    optuna.create_study(study_name=name, storage=url, direction="maximize")
    args = [sys.executable, "-m", "tests.search_probe", pg_url, name, str(tmp_path), str(budget)]
    procs = [
        subprocess.Popen([*args, *PLANS], stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=url)
    trials = study.get_trials(deepcopy=False)
    # The budget is exact: counted trials are the budget, whatever the number of processes.
    assert budget_used(study) == budget
    free = [t for t in trials if t.user_attrs.get("free")]
    assert len(free) == FREE_TRIALS * budget  # one allowance for all processes, exactly
    # Every plan was measured (or speed-checked) once at most: a repeat, wherever it was
    # drawn, is answered from the first trial's record, waiting for it while it runs.
    measured = Counter(
        line.split()[0] for line in (tmp_path / "measured.log").read_text().splitlines()
    )
    assert max(measured.values()) == 1, measured
    repeats = [t for t in trials if t.user_attrs.get("same_as") is not None]
    for t in repeats:
        first = trials[t.user_attrs["same_as"]]
        assert first.user_attrs["plan"] == t.user_attrs["plan"] and first.number < t.number
    # Each process registered itself and trained with its share of this host's cores.
    registered = {
        k.removeprefix("zenopt_process:")
        for k in study.user_attrs
        if k.startswith("zenopt_process:")
    }
    ran = {t.user_attrs["worker"] for t in trials if not t.user_attrs.get("skipped")}
    assert registered == ran and 1 <= len(ran) <= processes  # a late one may find it done
    shares = {t.user_attrs["train_threads"] for t in trials if "train_threads" in t.user_attrs}
    assert shares and max(shares) <= host_cores() and min(shares) >= 1
    if len(ran) > 1 and host_cores() > 1:  # two processes trained side by side: each its share
        assert min(shares) < max(shares) or max(shares) == 1


def test_a_repeat_does_not_wait_for_a_dead_neighbour(pg_url: str, tmp_path: Path) -> None:
    """Process A measures a plan and is killed mid-measurement; process B draws the same plan,
    waits for A's record, finds A's trial failed by heartbeat instead, and measures it."""
    url = pg_url.replace("postgresql://", "postgresql+psycopg://")
    optuna.create_study(study_name="dead", storage=url, direction="maximize")
    args = [sys.executable, "-m", "tests.search_probe", pg_url, "dead", str(tmp_path), "1", "plan"]
    log = tmp_path / "measured.log"
    victim = subprocess.Popen(args, env={**os.environ, "PROBE_SECONDS": "120"})
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    waiter = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert waiter.returncode == 0, waiter.stderr
    trials = optuna.load_study(study_name="dead", storage=url).get_trials(deepcopy=False)
    assert trials[0].state == optuna.trial.TrialState.FAIL and "error" not in trials[0].user_attrs
    measured = [line.split() for line in log.read_text().splitlines()]
    assert [m[0] for m in measured] == ["plan", "plan"]  # A started it, B measured it again
    mine = next(t for t in trials if t.number == int(measured[1][1]))
    assert mine.state == optuna.trial.TrialState.COMPLETE and mine.user_attrs.get("same_as") is None
