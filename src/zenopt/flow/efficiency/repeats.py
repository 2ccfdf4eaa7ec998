"""A plan drawn again: the first trial of it answers, whichever process on the study ran it,
from the record that trial left in the shared search folder (once it has one). A trial that
failed with an error does not answer (the plan is tried again), and neither does one whose
process died: waiting for a record, a repeat fails stale trials as a worker between trials
does, so a dead neighbour's trial ends instead of being waited for forever."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from zenopt.flow.efficiency.setup import SearchSetup

__all__ = ["earlier_record"]

POLL_S = 0.5  # how often a repeat looks for the record of a trial still running elsewhere


def earlier_record(setup: SearchSetup, number: int, label: str) -> dict[str, Any] | None:
    """The record of the first trial before ``number`` with plan ``label`` (waiting for it
    while it runs; a trial whose process died without a record does not answer), with
    ``trial`` the one that measured it; None when the plan is new."""
    study = setup.study
    for first in _same_plan(study, number, label):
        record = _wait_for_record(study, setup.folder, first)
        if record is not None and "error" not in record:
            original = record.get("same_as")
            return record if original is None else {**record, "trial": original}
    return None


def _same_plan(study: Any, number: int, label: str) -> list[int]:
    """Trials numbered before ``number`` that drew ``label``, first first. An earlier trial
    that runs but has not drawn its plan yet is waited for: it may be drawing this one, and
    then it, not this later trial, measures it."""
    from optuna.trial import TrialState

    while True:
        _fail_the_dead(study)
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < number]
        undrawn = [
            t
            for t in earlier
            if t.state == TrialState.RUNNING
            and "plan" not in t.user_attrs
            and not t.user_attrs.get("skipped")
            and _heartbeats(study)
        ]
        if not undrawn:
            return [t.number for t in earlier if t.user_attrs.get("plan") == label]
        time.sleep(POLL_S / 10)


def _wait_for_record(study: Any, folder: Path, number: int) -> dict[str, Any] | None:
    """Trial ``number``'s ``candidate.json``: at once if written, else when it is (polling
    while the trial runs); None if the trial ended without one (its process died)."""
    path = folder / f"trial-{number:05d}" / "candidate.json"
    while True:
        _fail_the_dead(study)
        if path.is_file():
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return record
        trial = study.get_trials(deepcopy=False)[number]
        if trial.state.is_finished() or not _heartbeats(study):
            # no heartbeats (a SQLite study has one owner): a trial left running is dead
            return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        time.sleep(POLL_S)


def _heartbeats(study: Any) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return bool(is_heartbeat_enabled(study._storage))


def _fail_the_dead(study: Any) -> None:
    """Fail (and queue again, as the storage's retry rule says) trials silent past the grace
    period: what a worker does between trials, done here while this one waits."""
    import warnings

    import optuna

    if _heartbeats(study):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
