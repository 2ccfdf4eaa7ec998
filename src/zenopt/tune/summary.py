"""The study as JSON for the manifest: every trial, the counts, the chosen trial and the
parameter importances, so the report is rebuilt from the run folder alone."""

from __future__ import annotations

import math
import warnings
from typing import Any

from zenopt.tune.study import counts_toward_budget

__all__ = ["choose_trial", "importances", "study_summary", "trial_records"]


def _state(trial: Any) -> str:
    if trial.user_attrs.get("skipped"):
        return "skipped"
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
                "artifact": t.user_attrs.get("artifact"),
            }
        )
    return records


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
        },
        "trials": records,
        "chosen": chosen,
        "importances": found,
        "importance_note": note,
    }
