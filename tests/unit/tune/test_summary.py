"""The trials whose worker died, as the study summary lists them, on a SQLite study built by
hand: trials started, one given a heartbeat, the run "killed" and resumed with
``fail_interrupted`` (Optuna's retry callback, as heartbeats use it on shared storage)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy

from zenopt.tune.study import fail_interrupted
from zenopt.tune.summary import study_summary

# Trial times are this machine's local time, SQLite's heartbeats UTC: a zone 5 h 30 min off
# UTC shows any mix-up between the two.
ZONE = "IST-5:30"


@pytest.fixture
def local_zone() -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = ZONE
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def _shift(url: str, sql: str, trial_id: int) -> None:
    """Move one of a trial's stored times into the past, on the database's own clock."""
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(sql), {"id": trial_id})
    engine.dispose()


def _at(stamp: str | None) -> datetime:
    assert stamp is not None
    return datetime.fromisoformat(stamp)


def _killed_and_resumed(tmp: Path) -> tuple[Any, dict[str, Any]]:
    url = f"sqlite:///{tmp / 'study.db'}"
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name="deaths", storage=storage, direction="maximize")
    done = study.ask()
    done.set_user_attr("worker", "alpha:1")
    study.tell(done, 0.9)
    broken = study.ask()  # failed with its error: a failed trial, not a death
    broken.set_user_attr("worker", "alpha:1")
    broken.set_user_attr("error", "training diverged")
    study.tell(broken, state=optuna.trial.TrialState.FAIL)
    skipped = study.ask()  # over budget: failed without an error, but never ran
    skipped.set_user_attr("skipped", True)
    study.tell(skipped, state=optuna.trial.TrialState.FAIL)
    beating = study.ask()  # ran a minute, its last heartbeat 30 s ago
    beating.set_user_attr("worker", "alpha:2")
    storage.record_heartbeat(beating._trial_id)
    _shift(
        url,
        "UPDATE trial_heartbeats SET heartbeat = datetime(heartbeat, '-30 seconds') "
        "WHERE trial_id = :id",
        beating._trial_id,
    )
    _shift(
        url,
        "UPDATE trials SET datetime_start = datetime(datetime_start, '-60 seconds') "
        "WHERE trial_id = :id",
        beating._trial_id,
    )
    silent = study.ask()  # no heartbeat at all (as in zenopt's SQLite run folder)
    silent.set_user_attr("worker", "alpha:2")
    study = optuna.load_study(study_name="deaths", storage=storage)  # "resumed"
    assert fail_interrupted(study, retries=1) == [beating.number, silent.number]
    rerun = study.ask()  # the first re-run queued: the heartbeat trial's
    rerun.set_user_attr("worker", "beta:7")
    study.tell(rerun, 0.8)
    summary = study_summary(study, url, {"direction": "maximize"}, "trial budget spent", [])
    return study, summary


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_summary_lists_each_dead_trial_with_its_heartbeat_failure_and_re_run(
    tmp_path: Path, local_zone: None
) -> None:
    now = datetime.now(UTC)
    study, summary = _killed_and_resumed(tmp_path)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    deaths = {d["number"]: d for d in summary["deaths"]}
    assert sorted(deaths) == [3, 4]  # not the complete, failed-with-error or skipped trials
    beat = deaths[3]
    assert beat["state"] == "died" and beat["worker"] == "alpha:2"
    # SQLite keeps heartbeats to the second: 30 s before now, give or take that second.
    heartbeat = _at(beat["last_heartbeat_at"])
    assert now - timedelta(seconds=32) <= heartbeat <= now - timedelta(seconds=28)
    assert beat["silent_since"] == "heartbeat" and 28 <= beat["silent_s"] <= 33
    # Against what Optuna says, through its own (local-time) trial records.
    assert _at(beat["started_at"]) == trials[3].datetime_start.astimezone(UTC).replace(
        microsecond=0
    )
    failed = _at(beat["failed_at"])
    assert failed == trials[3].datetime_complete.astimezone(UTC).replace(microsecond=0)
    assert _at(beat["started_at"]) < heartbeat < failed
    assert trials[5].system_attrs["retry_history"] == [3]
    assert beat["rerun"] == {
        "number": 5,
        "state": "complete",
        "worker": "beta:7",
        "started_at": trials[5].datetime_start.astimezone(UTC).isoformat(timespec="seconds"),
    }
    quiet = deaths[4]
    assert quiet["last_heartbeat_at"] is None and quiet["silent_since"] == "start"
    assert 0 <= quiet["silent_s"] <= 5
    # Queued, not started: the worker it carries is the dead trial's copy, so none is shown.
    assert trials[6].user_attrs["worker"] == "alpha:2"
    assert quiet["rerun"] == {"number": 6, "state": "waiting", "worker": None, "started_at": None}
    assert summary["counts"]["died"] == 2 and summary["counts"]["retried"] == 2
