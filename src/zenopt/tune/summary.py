"""The study as JSON for the manifest: every trial, the counts, the chosen trial, the trials
whose worker died and the parameter importances, so the report is rebuilt from the run folder
alone."""

from __future__ import annotations

import math
import warnings
from datetime import UTC, datetime
from typing import Any

from zenopt.tune.heartbeats import last_heartbeats
from zenopt.tune.study import counts_toward_budget

__all__ = ["choose_trial", "importances", "study_summary", "trial_deaths", "trial_records"]


def _state(trial: Any) -> str:
    if trial.user_attrs.get("skipped"):
        return "skipped"
    if trial.user_attrs.get("replay_of") is not None:
        return "replay"  # the parameters of a finished trial, refused before training (free)
    if trial.state.name == "FAIL" and trial.user_attrs.get("interrupted"):
        return "interrupted"  # Ctrl-C; re-run on --resume
    if trial.state.name == "FAIL" and not counts_toward_budget(trial):
        return "died"  # its worker stopped sending heartbeats (or the run was killed)
    return str(trial.state.name.lower())


def trial_records(study: Any) -> list[dict[str, Any]]:
    records = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("skipped"):
            continue
        duration = t.duration.total_seconds() if t.duration is not None else None
        last = max(t.intermediate_values) if t.intermediate_values else None
        records.append(
            {
                "number": t.number,
                "state": _state(t),
                "value": t.value,
                "params": dict(t.params),
                "duration_s": duration,
                "epochs_reported": len(t.intermediate_values),
                "last_reported": t.intermediate_values.get(last) if last is not None else None,
                "meets": bool(t.user_attrs.get("meets", False)),
                "worker": t.user_attrs.get("worker"),
                "val": t.user_attrs.get("val"),
                "error": t.user_attrs.get("error"),
                "retry_of": t.system_attrs.get("failed_trial"),
                "replay_of": t.user_attrs.get("replay_of"),
                "artifact": t.user_attrs.get("artifact"),
            }
        )
    return records


def _utc(moment: datetime | None) -> datetime | None:
    """An Optuna trial time (naive, this machine's local time) as an aware UTC datetime."""
    return None if moment is None else moment.astimezone(UTC)


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _rerun(trial: Any) -> dict[str, Any]:
    """The trial that re-ran a dead one. A queued re-run carries a copy of the dead trial's
    user attributes, its ``worker`` too, until a worker starts it and writes its own."""
    from optuna.trial import TrialState

    started = trial.state != TrialState.WAITING and not trial.user_attrs.get("skipped")
    return {
        "number": trial.number,
        "state": _state(trial),
        "worker": trial.user_attrs.get("worker") if started else None,
        "started_at": _stamp(_utc(trial.datetime_start)),
    }


def trial_deaths(study: Any) -> list[dict[str, Any]]:
    """Every trial whose process stopped without finishing it (failed with no error: its worker
    was killed or lost, and another worker failed it once it was silent for ``tune.grace_s``;
    or the run was interrupted or killed, and ``--resume`` failed it): who ran it, its last
    heartbeat, when it was failed, how long it had been silent by then (since its start where
    the storage keeps no heartbeats), and the trial that re-ran it."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    dead = [
        t
        for t in trials
        if t.state == TrialState.FAIL
        and "error" not in t.user_attrs
        and not t.user_attrs.get("skipped")
        and t.user_attrs.get("replay_of") is None
    ]
    # Optuna's retry appends the number of the trial it re-runs to ``retry_history`` (its
    # ``failed_trial`` is the first of a chain of re-runs, not the one that died just before).
    reruns = {
        t.system_attrs["retry_history"][-1]: t
        for t in trials
        if t.system_attrs.get("retry_history")
    }
    beats = last_heartbeats(study._storage, [t._trial_id for t in dead])
    deaths = []
    for t in dead:
        started, failed = _utc(t.datetime_start), _utc(t.datetime_complete)
        beat = beats.get(t._trial_id)
        since = beat or started
        rerun = reruns.get(t.number)
        deaths.append(
            {
                "number": t.number,
                "state": _state(t),
                "worker": t.user_attrs.get("worker"),
                "started_at": _stamp(started),
                "last_heartbeat_at": _stamp(beat),
                "failed_at": _stamp(failed),
                "silent_s": (
                    round((failed - since).total_seconds(), 1)
                    if failed is not None and since is not None
                    else None
                ),
                "silent_since": "heartbeat" if beat else "start" if started else None,
                "rerun": _rerun(rerun) if rerun is not None else None,
            }
        )
    return deaths


def choose_trial(records: list[dict[str, Any]], maximize: bool) -> dict[str, Any] | None:
    """The trial carried on: the best one that met every target on validation, else the best."""
    complete = [r for r in records if r["state"] == "complete" and r["value"] is not None]
    meeting = [r for r in complete if r["meets"]] or complete
    if not meeting:
        return None
    sign = 1.0 if maximize else -1.0
    # Ties go to the earlier trial, so the choice does not depend on worker timing.
    return max(meeting, key=lambda r: (sign * r["value"], -r["number"]))


def importances(study: Any) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances of the parameters over completed trials (with a note when unknown)."""
    import optuna

    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if t.value is not None and math.isfinite(t.value)
    ]
    if len(complete) < 3:
        return None, f"needs at least 3 completed trials (has {len(complete)})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)
            )
    except (RuntimeError, ValueError) as exc:
        return None, f"not computable: {exc}"
    note = f"fANOVA over {len(complete)} completed trials"
    if len(complete) < 10:
        note += "; with so few trials, read them as a rough ranking"
    return {k: float(v) for k, v in found.items()}, note


def study_summary(
    study: Any, storage: str, setup: dict[str, Any], stopped: str, interrupted: list[int]
) -> dict[str, Any]:
    records = trial_records(study)
    maximize = setup["direction"] == "maximize"
    chosen = choose_trial(records, maximize)
    found, note = importances(study)
    states = [r["state"] for r in records]
    return {
        "study": study.study_name,
        "storage": storage,
        **setup,
        "stopped": stopped,
        "resumed_failed_trials": interrupted,
        "counts": {
            "counted": sum(1 for r in records if r["state"] in {"complete", "pruned", "fail"}),
            "complete": states.count("complete"),
            "pruned": states.count("pruned"),
            "failed": states.count("fail"),
            "died": states.count("died") + states.count("interrupted"),
            "retried": sum(1 for r in records if r["retry_of"] is not None),
            "replays": states.count("replay"),
        },
        "trials": records,
        "deaths": trial_deaths(study),
        "chosen": chosen,
        "importances": found,
        "importance_note": note,
    }
