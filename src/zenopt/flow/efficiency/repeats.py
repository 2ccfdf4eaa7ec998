"""A plan drawn again: the first trial of it answers, whichever process on the study ran it,
from the record that trial left in the shared search folder (once it has one)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from zenopt.flow.efficiency.setup import SearchSetup, measured_records

__all__ = ["earlier_record"]

POLL_S = 0.5  # how often a repeat looks for the record of a trial still running elsewhere


def earlier_record(setup: SearchSetup, number: int, label: str) -> dict[str, Any] | None:
    """The record of the first trial before ``number`` with plan ``label`` (waiting for it
    while it runs; a trial whose process died without a record does not answer), with
    ``trial`` the one that measured it; None when the plan is new."""
    study = setup.study
    if study is None:  # no study: the records in the folder are all there is
        return next((r for r in measured_records(setup.folder) if r.get("plan") == label), None)
    for first in _same_plan(study, number, label):
        record = _wait_for_record(study, setup.folder, first)
        if record is not None:
            original = record.get("same_as")
            return record if original is None else {**record, "trial": original}
    return None


def _same_plan(study: Any, number: int, label: str) -> list[int]:
    """Trials numbered before ``number`` that drew ``label``, first first. An earlier trial
    that runs but has not drawn its plan yet is waited for: it may be drawing this one, and
    then it, not this later trial, measures it."""
    from optuna.trial import TrialState

    while True:
        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < number]
        undrawn = [
            t
            for t in earlier
            if t.state == TrialState.RUNNING
            and "plan" not in t.user_attrs
            and not t.user_attrs.get("skipped")
        ]
        if not undrawn:
            return [t.number for t in earlier if t.user_attrs.get("plan") == label]
        time.sleep(POLL_S / 10)


def _wait_for_record(study: Any, folder: Path, number: int) -> dict[str, Any] | None:
    """Trial ``number``'s ``candidate.json``: at once if written, else when it is (polling
    while the trial runs); None if the trial ended without one (its process died)."""
    path = folder / f"trial-{number:05d}" / "candidate.json"
    while True:
        if path.is_file():
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return record
        trial = study.get_trials(deepcopy=False)[number]
        if trial.state.is_finished():
            return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        time.sleep(POLL_S)
