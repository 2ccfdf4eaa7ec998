"""The search loop against a plain-Python objective: stopping, budget, pruning, samplers,
failures and resuming an interrupted study. No training here: the trial function is a formula."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import optuna
import pytest

from zenopt.core.config import ParamSpec, TuneConfig
from zenopt.core.errors import ConfigError, TrainingError
from zenopt.tune.search import TrialResult, run_search
from zenopt.tune.space import space_to_dict
from zenopt.tune.storage import open_storage
from zenopt.tune.study import ATTR_SETUP, budget_used, fail_interrupted, open_study
from zenopt.tune.summary import choose_trial, importances, trial_records

SPACE = {
    "train.lr": ParamSpec(type="float", low=1e-4, high=1.0, log=True),
    "model.params.width": ParamSpec(type="int", low=1, high=8),
}


def _open(tmp: Path, tune: TuneConfig, space: dict[str, ParamSpec] = SPACE, **kw: Any) -> Any:
    url = f"sqlite:///{tmp / 'study.db'}"
    return open_study(
        open_storage(url, tune),
        kw.get("name", "s"),
        kw.get("direction", "maximize"),
        tune,
        space_to_dict(space),
        {ATTR_SETUP: {"metric": "accuracy"}},
        0,
        url,
    )


def score(params: dict[str, Any]) -> float:
    """Best at lr = 1e-2; the width does not matter."""
    return -((math.log10(params["train.lr"]) + 2.0) ** 2)


def formula(meets_at: float = math.inf, epochs: int = 4) -> Any:
    def run(params: dict[str, Any], number: int, report: Any) -> TrialResult:
        value = score(params)
        for epoch in range(1, epochs + 1):
            report(epoch, value - (epochs - epoch))  # improves every epoch
        return TrialResult(value, value >= meets_at, {"val": {"accuracy": value}})

    return run


def _states(study: Any) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def test_stops_at_the_first_trial_that_meets_the_target(tmp_path: Path) -> None:
    tune = TuneConfig(trials=50, sampler="random", pruner="none")
    study = _open(tmp_path, tune)
    calls: list[int] = []

    def run(params: dict[str, Any], number: int, report: Any) -> TrialResult:
        calls.append(number)
        return TrialResult(float(number), number == 3)

    assert run_search(study, SPACE, tune.trials, run) == "target met on validation"
    assert calls == [0, 1, 2, 3]
    assert _states(study) == ["COMPLETE"] * 4
    assert choose_trial(trial_records(study), maximize=True)["number"] == 3  # type: ignore[index]


def test_the_trial_budget_holds_across_restarts(tmp_path: Path) -> None:
    tune = TuneConfig(trials=6, sampler="random", pruner="none")
    assert run_search(_open(tmp_path, tune), SPACE, 6, formula()) == "trial budget spent"
    study = _open(tmp_path, tune)  # a restart: the same study, reopened
    assert run_search(study, SPACE, 6, formula()) == "trial budget spent"
    assert budget_used(study) == 6 and _states(study) == ["COMPLETE"] * 6
    assert run_search(_open(tmp_path, tune), SPACE, 8, formula()) == "trial budget spent"
    assert budget_used(study) == 8


def test_a_diverged_trial_fails_counts_and_says_why(tmp_path: Path) -> None:
    tune = TuneConfig(trials=4, sampler="random", pruner="none")
    study = _open(tmp_path, tune)

    def run(params: dict[str, Any], number: int, report: Any) -> TrialResult:
        if number == 1:
            raise TrainingError("training diverged: the loss became nan in epoch 2")
        return TrialResult(1.0, False)

    run_search(study, SPACE, tune.trials, run)
    records = trial_records(study)
    assert [r["state"] for r in records] == ["complete", "fail", "complete", "complete"]
    assert records[1]["error"].startswith("training diverged")
    assert budget_used(study) == 4


def test_the_median_pruner_stops_trials_below_the_median(tmp_path: Path) -> None:
    tune = TuneConfig(trials=12, sampler="random", pruner="median", startup_trials=3)
    study = _open(tmp_path, tune)
    run_search(study, SPACE, tune.trials, formula())
    records = trial_records(study)
    pruned = [r for r in records if r["state"] == "pruned"]
    assert pruned, "some trials fall below the median and are pruned"
    assert all(r["number"] >= 3 for r in pruned)  # never during the start-up trials
    for r in pruned:  # stopped after its first reported epoch that was below the median
        assert r["epochs_reported"] < 4
    (tmp_path / "off").mkdir()
    off = _open(tmp_path / "off", TuneConfig(trials=12, sampler="random", pruner="none"))
    run_search(off, SPACE, 12, formula())
    assert all(r["state"] == "complete" for r in trial_records(off))


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "nsga2", "grid"])
def test_every_sampler_runs_the_budget(tmp_path: Path, sampler: str) -> None:
    space = {
        "train.lr": ParamSpec(type="float", low=1e-4, high=1.0, log=True),
        "train.optimizer": ParamSpec(type="categorical", choices=["adam", "sgd"]),
    }
    tune = TuneConfig(trials=6, sampler=sampler, pruner="none", startup_trials=2)  # type: ignore[arg-type]
    study = _open(tmp_path, tune, space)
    run_search(study, space, tune.trials, formula())
    records = trial_records(study)
    # A sampler that proposes a finished parameter set again (NSGA-II's children can equal
    # their parents) is refused before training; the refusal is free, so the budget still
    # buys 6 distinct trials.
    replays = {t.number for t in study.trials if t.user_attrs.get("replay_of") is not None}
    assert all(study.trials[n].user_attrs["free"] for n in replays)
    ran = [r for r in records if r["number"] not in replays]
    assert [r["state"] for r in ran] == ["complete"] * 6
    assert len({json.dumps(r["params"], sort_keys=True) for r in ran}) == 6
    if sampler == "grid":  # 3 learning rates × 2 optimizers, each once
        combos = {(r["params"]["train.lr"], r["params"]["train.optimizer"]) for r in records}
        assert len(combos) == 6


def test_tpe_beats_random_on_a_smooth_objective(tmp_path: Path) -> None:
    found = {}
    for sampler in ("tpe", "random"):
        tune = TuneConfig(trials=30, sampler=sampler, pruner="none", startup_trials=5)  # type: ignore[arg-type]
        (tmp_path / sampler).mkdir()
        study = _open(tmp_path / sampler, tune)
        run_search(study, SPACE, tune.trials, formula(epochs=1))
        found[sampler] = sorted(r["value"] for r in trial_records(study))[-5:]  # 5 best
    assert sum(found["tpe"]) > sum(found["random"])


def test_an_interrupted_trial_is_failed_and_queued_again(tmp_path: Path) -> None:
    tune = TuneConfig(trials=3, sampler="random", pruner="none")
    study = _open(tmp_path, tune)
    run_search(study, SPACE, 1, formula())
    killed = study.ask()  # a trial that was running when the process died
    killed.suggest_float("train.lr", 1e-4, 1.0, log=True)
    killed.suggest_int("model.params.width", 1, 8)
    lost = dict(killed.params)
    assert fail_interrupted(study, retries=1) == [killed.number]
    trials = study.get_trials(deepcopy=False)
    assert trials[killed.number].state.name == "FAIL"
    retry = trials[-1]
    assert retry.state.name == "WAITING" and retry.params == lost
    assert retry.system_attrs["failed_trial"] == killed.number
    assert budget_used(study) == 2  # the completed one and the queued re-run, not the dead one
    run_search(study, SPACE, tune.trials, formula())
    records = trial_records(study)
    assert [r["state"] for r in records] == ["complete", "died", "complete", "complete"]
    assert records[2]["params"] == lost and records[2]["retry_of"] == killed.number


def test_joining_with_another_space_or_direction_is_refused(tmp_path: Path) -> None:
    tune = TuneConfig()
    _open(tmp_path, tune)
    other = {**SPACE, "train.lr": ParamSpec(type="float", low=1e-5, high=1.0, log=True)}
    with pytest.raises(ConfigError) as info:
        _open(tmp_path, tune, other)
    assert "already exists with a different search space (differs at train.lr)" in str(info.value)
    with pytest.raises(ConfigError, match="maximizes its metric; this config minimizes it"):
        _open(tmp_path, tune, direction="minimize")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with pytest.raises(ConfigError, match="--study 'nope': no such study in sqlite:///"):
        open_study(open_storage(url, tune), "nope", None, tune, None, None, 0, url, wait_s=0.5)


def test_choose_trial_prefers_meeting_then_value_then_earlier() -> None:
    def rec(n: int, value: float, meets: bool, state: str = "complete") -> dict[str, Any]:
        return {"number": n, "value": value, "meets": meets, "state": state}

    records = [rec(0, 0.9, False), rec(1, 0.8, True), rec(2, 0.85, True), rec(3, 0.85, True)]
    assert choose_trial(records, maximize=True)["number"] == 2  # type: ignore[index]
    assert choose_trial([rec(0, 0.9, False), rec(1, 0.95, False, "pruned")], True)["number"] == 0  # type: ignore[index]
    assert choose_trial([rec(0, 3.0, False), rec(1, 2.0, False)], maximize=False)["number"] == 1  # type: ignore[index]
    assert choose_trial([rec(0, 1.0, False, "fail")], True) is None


def test_importances_find_the_parameter_that_matters(tmp_path: Path) -> None:
    tune = TuneConfig(trials=16, sampler="random", pruner="none")
    study = _open(tmp_path, tune)
    run_search(study, SPACE, tune.trials, formula(epochs=1))
    found, note = importances(study)
    assert found is not None and note.startswith("fANOVA")
    assert found["train.lr"] > found["model.params.width"]
    assert math.isclose(sum(found.values()), 1.0)
    assert importances(optuna.create_study()) == (None, "needs at least 3 completed trials (has 0)")


def test_a_grid_smaller_than_the_budget_stops_when_every_point_is_tried(tmp_path: Path) -> None:
    space = {"train.optimizer": ParamSpec(type="categorical", choices=["adam", "sgd"])}
    tune = TuneConfig(trials=10, sampler="grid", pruner="none")
    study = _open(tmp_path, tune, space)
    assert run_search(study, space, tune.trials, formula_for_choice) == "every grid point tried"
    assert sorted(r["params"]["train.optimizer"] for r in trial_records(study)) == ["adam", "sgd"]


def formula_for_choice(params: dict[str, Any], number: int, report: Any) -> TrialResult:
    return TrialResult(1.0 if params["train.optimizer"] == "adam" else 0.5, False)


def test_the_time_budget_stops_the_search_between_trials(tmp_path: Path) -> None:
    import time

    tune = TuneConfig(trials=50, sampler="random", pruner="none")
    study = _open(tmp_path, tune)

    def slow(params: dict[str, Any], number: int, report: Any) -> TrialResult:
        time.sleep(0.3)
        return TrialResult(0.0, False)

    assert run_search(study, SPACE, tune.trials, slow, timeout_s=0.5) == "time budget spent"
    assert 1 <= budget_used(study) < 50


def test_a_trial_stopped_by_ctrl_c_is_re_run_on_resume_once(tmp_path: Path) -> None:
    tune = TuneConfig(trials=3, sampler="random", pruner="none")
    study = _open(tmp_path, tune)

    def interrupted(params: dict[str, Any], number: int, report: Any) -> TrialResult:
        if number == 1:
            raise KeyboardInterrupt
        return TrialResult(0.0, False)

    with pytest.raises(KeyboardInterrupt):
        run_search(study, SPACE, tune.trials, interrupted)
    assert fail_interrupted(study, retries=1) == [1]
    assert fail_interrupted(study, retries=1) == [1]  # a second resume queues nothing more
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "FAIL", "WAITING"]
    run_search(study, SPACE, tune.trials, formula())
    records = trial_records(study)
    assert [r["state"] for r in records] == ["complete", "interrupted", "complete", "complete"]
    assert records[2]["retry_of"] == 1 and budget_used(study) == 3


def test_joining_waits_for_the_creators_setup_and_then_uses_its_sampler(tmp_path: Path) -> None:
    import threading
    import time

    url = f"sqlite:///{tmp_path / 'study.db'}"
    tune = TuneConfig(sampler="random", pruner="none")
    storage = open_storage(url, tune)
    bare = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    with pytest.raises(ConfigError, match="has no zenopt setup after 0 s"):
        open_study(storage, "s", None, tune, None, None, 0, url, wait_s=0)

    def creator_finishes() -> None:
        time.sleep(1.0)
        bare.set_user_attr(ATTR_SETUP, {"metric": "accuracy"})
        bare.set_user_attr("zenopt_space", space_to_dict(SPACE))

    thread = threading.Thread(target=creator_finishes)
    thread.start()
    joined = open_study(storage, "s", "maximize", tune, space_to_dict(SPACE), {}, 0, url)
    thread.join()
    assert isinstance(joined.sampler, optuna.samplers.RandomSampler)
    assert isinstance(joined.pruner, optuna.pruners.NopPruner)
