"""The Optuna study behind the quality loop: sampler, pruner, create-or-join, and the trial
budget that holds across restarts and workers."""

from __future__ import annotations

import warnings
from typing import Any

from zenopt.core.config import ParamSpec, TuneConfig
from zenopt.core.errors import ConfigError
from zenopt.tune.space import grid_values
from zenopt.tune.storage import redact

__all__ = [
    "ATTR_CONFIG",
    "budget_used",
    "check_compatible",
    "counts_toward_budget",
    "fail_interrupted",
    "make_pruner",
    "make_sampler",
    "open_study",
]

ATTR_CONFIG = "zenopt_config"  # the run configuration: what a worker needs to run trials
ATTR_SPACE = "zenopt_space"
ATTR_SETUP = "zenopt_setup"  # metric, direction, budget, artifacts folder


def make_sampler(tune: TuneConfig, space: dict[str, ParamSpec], seed: int, workers: bool) -> Any:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if tune.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if tune.sampler == "grid":
            grid = {key: grid_values(spec, tune.grid_points) for key, spec in space.items()}
            return optuna.samplers.GridSampler(grid, seed=seed)
        if tune.sampler == "cmaes":
            return optuna.samplers.CmaEsSampler(
                n_startup_trials=tune.startup_trials, seed=seed, warn_independent_sampling=False
            )
        if tune.sampler == "nsga2":
            population = min(50, max(4, tune.trials // 4))
            return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        # TPE: the constant liar keeps parallel workers from sampling the same point.
        return optuna.samplers.TPESampler(
            n_startup_trials=tune.startup_trials,
            seed=seed,
            constant_liar=workers,
            multivariate=True,
        )


def make_pruner(tune: TuneConfig) -> Any:
    import optuna

    if tune.pruner == "none":
        return optuna.pruners.NopPruner()
    if tune.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=max(1, tune.warmup_epochs), reduction_factor=3
        )
    return optuna.pruners.MedianPruner(
        n_startup_trials=tune.startup_trials, n_warmup_steps=tune.warmup_epochs
    )


def check_compatible(study: Any, space: dict[str, Any], direction: str | None, url: str) -> None:
    """Refuse to join a study whose search space or direction differs from this config's."""
    name = study.study_name
    stored = study.user_attrs.get(ATTR_SPACE)
    if stored is not None and stored != space:
        differing = sorted(set(stored) ^ set(space)) or sorted(
            k for k in space if stored.get(k) != space[k]
        )
        raise ConfigError(
            f"tune.study {name!r} in {redact(url)} already exists with a different search "
            f"space (differs at {', '.join(differing)}); use a new tune.study name, or the "
            "same tune.space as that study"
        )
    if direction is not None and study.direction.name.lower() != direction:
        raise ConfigError(
            f"tune.study {name!r} in {redact(url)} already exists and "
            f"{study.direction.name.lower()}s its metric; this config {direction}s it; use "
            "a new tune.study name"
        )


def open_study(
    storage: Any,
    name: str,
    direction: str | None,
    tune: TuneConfig,
    space: dict[str, Any] | None,
    attrs: dict[str, Any] | None,
    seed: int,
    url: str,
) -> Any:
    """Create the study (with the attributes workers read) or join it after checking that its
    search space is the one asked for. ``space``/``attrs`` None: join only (a worker)."""
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage)
        existed = True
    except KeyError:
        if attrs is None:
            raise ConfigError(
                f"--study {name!r}: no such study in {redact(url)}; start it with zenopt run or "
                "zenopt tune (tune.storage set to this URL), or pass --config to create it"
            ) from None
        try:
            study = optuna.create_study(
                study_name=name,
                storage=storage,
                direction=direction,  # type: ignore[arg-type]
            )
            existed = False
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
            study = optuna.load_study(study_name=name, storage=storage)
            existed = True
    if existed and space is not None:
        check_compatible(study, space, direction, url)
    if not existed and attrs is not None:
        study.set_user_attr(ATTR_SPACE, space)
        for key, value in attrs.items():
            study.set_user_attr(key, value)
    stored_space = study.user_attrs.get(ATTR_SPACE)
    if stored_space is None:  # joined before its creator wrote the setup; the caller waits
        return study
    sampler_space = {k: ParamSpec.model_validate(v) for k, v in stored_space.items()}
    study.sampler = make_sampler(tune, sampler_space, seed, workers=not url.startswith("sqlite"))
    study.pruner = make_pruner(tune)
    return study


def counts_toward_budget(trial: Any) -> bool:
    """Every trial that ran to an outcome, or is running or queued, counts; one skipped over
    budget, or one whose worker died (it is re-queued, and its re-run counts), does not."""
    from optuna.trial import TrialState

    if trial.user_attrs.get("skipped"):
        return False
    if trial.state == TrialState.FAIL:
        return "error" in trial.user_attrs
    return True


def budget_used(study: Any, before: int | None = None) -> int:
    """Trials counted against the budget (only those numbered below ``before`` if given)."""
    return sum(
        1
        for t in study.get_trials(deepcopy=False)
        if counts_toward_budget(t) and (before is None or t.number < before)
    )


def fail_interrupted(study: Any, retries: int) -> list[int]:
    """Fail the trials a killed process left running (SQLite runs are single-process, so any
    running trial is dead) and queue each for one re-run, as heartbeats do on shared storage."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    failed = []
    retry = RetryHeartbeatStaleTrialCallback(max_retry=retries)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        retry(study, study._storage.get_trial(trial._trial_id))
        failed.append(trial.number)
    return failed
