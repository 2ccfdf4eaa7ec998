"""The Optuna study behind the quality loop: sampler, pruner, create-or-join, and the trial
budget that holds across restarts and workers."""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
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
    "resumed_seed",
    "study_lock",
]

ATTR_CONFIG = "zenopt_config"  # the run configuration: what a worker needs to run trials
ATTR_SPACE = "zenopt_space"
ATTR_SETUP = "zenopt_setup"  # metric, direction, budget, artifacts folder


def make_sampler(
    tune: TuneConfig, space: dict[str, ParamSpec], seed: int | None, workers: bool
) -> Any:
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


def check_compatible(
    study: Any,
    space: dict[str, Any],
    direction: str | list[str] | None,
    url: str,
    section: str = "tune",
) -> None:
    """Refuse to join a study whose search space or direction(s) differ from this config's;
    ``section`` names the config section the study belongs to (``tune``, ``compress.search``)."""
    name = study.study_name
    stored = study.user_attrs.get(ATTR_SPACE)
    if stored is not None and stored != space:
        differing = sorted(set(stored) ^ set(space)) or sorted(
            k for k in space if stored.get(k) != space[k]
        )
        raise ConfigError(
            f"{section}.study {name!r} in {redact(url)} already exists with a different search "
            f"space (differs at {', '.join(differing)}); use a new {section}.study name, or the "
            f"same {section}.space as that study"
        )
    if direction is None:
        return
    wanted = [direction] if isinstance(direction, str) else list(direction)
    have = [d.name.lower() for d in study.directions]
    if have == wanted:
        return
    if len(have) == len(wanted) == 1:
        raise ConfigError(
            f"{section}.study {name!r} in {redact(url)} already exists and {have[0]}s its "
            f"metric; this config {wanted[0]}s it; use a new {section}.study name"
        )
    raise ConfigError(
        f"{section}.study {name!r} in {redact(url)} already exists with the objectives "
        f"{', '.join(have)}; this config's are {', '.join(wanted)}; use a new {section}.study "
        "name"
    )


def _wait_for_space(study: Any, wait_s: float, url: str) -> dict[str, Any]:
    """A study joined in the moment between its creation and its setup: wait for the setup
    (the space is written last, so once it is there everything is)."""
    import optuna

    deadline = time.monotonic() + wait_s
    while True:
        stored = study.user_attrs.get(ATTR_SPACE)
        if stored is not None:
            return dict(stored)
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"--study {study.study_name!r} in {redact(url)} has no zenopt setup after "
                f"{wait_s:g} s; it was not created by zenopt run, tune or worker --config; use "
                "another study name"
            )
        time.sleep(0.5)
        study = optuna.load_study(study_name=study.study_name, storage=study._storage)


def open_study(
    storage: Any,
    name: str,
    direction: str | list[str] | None,
    tune: TuneConfig,
    space: dict[str, Any] | None,
    attrs: dict[str, Any] | None,
    seed: int,
    url: str,
    wait_s: float = 60.0,
    section: str = "tune",
) -> Any:
    """Create the study (with the attributes workers read) or join it after checking that its
    search space is the one asked for. ``space``/``attrs`` None: join only (a worker), waiting
    up to ``wait_s`` for the study and its setup to appear. ``direction``: one, or a list for
    a multi-objective study (the efficiency search's, ``section="compress.search"``), which
    gets no sampler or pruner here: its runner sets its own."""
    import optuna

    deadline = time.monotonic() + wait_s
    while True:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
            existed = True
            break
        except KeyError:
            if attrs is not None:
                existed = False
                break
        if time.monotonic() >= deadline:  # joining only: the creator may start later
            raise ConfigError(
                f"--study {name!r}: no such study in {redact(url)}; start it with zenopt run or "
                "zenopt tune (tune.storage set to this URL), or pass --config to create it"
            )
        time.sleep(0.5)
    if not existed:
        objectives = (
            {"directions": direction} if isinstance(direction, list) else {"direction": direction}
        )
        try:
            study = optuna.create_study(study_name=name, storage=storage, **objectives)  # type: ignore[arg-type]
        except optuna.exceptions.DuplicatedStudyError:  # another worker created it just now
            study = optuna.load_study(study_name=name, storage=storage)
            existed = True
    if existed:
        _wait_for_space(study, max(0.0, deadline - time.monotonic()), url)
        study = optuna.load_study(study_name=name, storage=storage)
        if space is not None:
            check_compatible(study, space, direction, url, section)
    elif attrs is not None:
        for key, value in attrs.items():
            study.set_user_attr(key, value)
        study.set_user_attr(ATTR_SPACE, space)  # last: joiners wait for it
    if study.user_attrs.get(ATTR_SETUP, {}).get("loop") == "compress":
        return study  # an efficiency search: its runner sets its own sampler
    stored = study.user_attrs[ATTR_SPACE]
    sampler_space = {k: ParamSpec.model_validate(v) for k, v in stored.items()}
    shared = not url.startswith("sqlite")
    # Workers sharing a study must not draw the same points: each gets its own random stream.
    sampler_seed = None if shared else resumed_seed(study, seed)
    study.sampler = make_sampler(tune, sampler_space, sampler_seed, workers=shared)
    study.pruner = make_pruner(tune)
    return study


@contextmanager
def study_lock(study: Any) -> Iterator[None]:
    """One process at a time inside, of all that share the study: a PostgreSQL advisory lock
    keyed by the study's name. A SQLite study has one owner, so it needs none."""
    storage = getattr(study._storage, "_backend", study._storage)
    engine = getattr(storage, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        yield
        return
    from sqlalchemy import text

    key = zlib.crc32(f"zenopt:{study.study_name}".encode())
    # A transaction-level lock: released when the transaction ends, however it ends (an
    # interruption, a lost connection), so it can never stay held on a pooled connection.
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield


def resumed_seed(study: Any, seed: int) -> int:
    """The sampler's seed: ``seed`` for a new study, ``seed`` plus its trial count for one
    that already has trials. A resumed study re-seeded with ``seed`` alone would draw its
    start-up trials again, the very parameter sets it has already run."""
    return seed + len(study.get_trials(deepcopy=False))


def counts_toward_budget(trial: Any) -> bool:
    """Every trial that ran to an outcome, or is running or queued, counts; one skipped over
    budget, one whose worker died (it is re-queued, and its re-run counts), or one the trial
    marked ``free`` (a plan rejected in seconds, before any training), does not."""
    from optuna.trial import TrialState

    if trial.user_attrs.get("skipped") or trial.user_attrs.get("free"):
        return False
    if trial.state == TrialState.FAIL:  # an error counts; a death or an interruption does not
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
    """On resume: fail the trials the stopped process left running (a SQLite study has one
    owner, so any running trial is dead) and queue each, and each trial interrupted by Ctrl-C,
    to run again (``retries`` times at most), as heartbeats do on shared storage."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    retry = RetryHeartbeatStaleTrialCallback(max_retry=retries)
    queued = []
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        elif not (trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted")):
            continue
        if trial.number not in retried:
            retry(study, study._storage.get_trial(trial._trial_id))
        queued.append(trial.number)
    return queued
