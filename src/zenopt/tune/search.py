"""Running the study: each trial trains one configuration (through a function the caller gives),
reports its validation metric every epoch for the pruner, and the search stops when a trial
meets every quality target on validation, or when the trial or time budget is spent.

The same loop serves ``zenopt run``/``tune`` and every ``zenopt worker``: the trial budget is
counted in the storage, so it holds across restarts and across processes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zenopt.core.config import ParamSpec
from zenopt.core.errors import ModelError, TrainingError
from zenopt.tune.hosts import ThreadBudget
from zenopt.tune.space import suggest
from zenopt.tune.study import budget_used, counts_toward_budget

__all__ = [
    "SearchSnapshot",
    "TrialFailedError",
    "TrialRejectedError",
    "TrialResult",
    "run_search",
    "worker_id",
]

ReportFn = Callable[[int, float], None]


@dataclass(frozen=True)
class TrialResult:
    """What a trial function hands back: the objective value and JSON-able attributes."""

    value: float | tuple[float, ...]  # one value per objective of the study
    meets: bool  # the search may stop: every target met (quality loop: on validation)
    attrs: dict[str, Any] = field(default_factory=dict)
    # Constraint values for a constrained sampler: the trial is feasible when all are <= 0.
    constraints: dict[str, float] = field(default_factory=dict)


TrialFn = Callable[[dict[str, Any], int, ReportFn], TrialResult]


@dataclass(frozen=True)
class SearchSnapshot:
    """Progress after a trial, for a progress bar: counts, best value and budgets."""

    counted: int
    budget: int
    complete: int
    pruned: int
    failed: int
    best: float | None
    elapsed_s: float
    timeout_s: float | None


class _SkippedError(Exception):
    """A trial that must not run: the budget is spent or the target is already met."""


class _ReplayError(Exception):
    """A trial refused before training: its parameters are a finished trial's."""


class TrialRejectedError(Exception):
    """A trial function's way to end a trial early as pruned, keeping what it measured."""

    def __init__(
        self, reason: str, attrs: dict[str, Any], constraints: dict[str, float] | None = None
    ) -> None:
        super().__init__(reason)
        self.attrs = attrs
        self.constraints = constraints or {}


class TrialFailedError(Exception):
    """A trial function's way to fail one trial (recorded with its error) and let the search
    go on: one bad candidate is one failed trial, not a failed search."""


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _met(study: Any) -> bool:
    from optuna.trial import TrialState

    return any(
        t.user_attrs.get("meets")
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    )


SampleFn = Callable[[Any], dict[str, Any]]


# A sampler that keeps proposing finished parameter sets is asked this many times in a row
# before the search ends (each refused proposal is free: it trains nothing).
MAX_REPLAYS = 20


@dataclass
class _Replays:
    """Proposals refused in a row because their parameters already finished in the study."""

    in_a_row: int = 0

    @property
    def exhausted(self) -> bool:
        return self.in_a_row >= MAX_REPLAYS


def _refuse_a_replay(study: Any, trial: Any, repeats: _Replays) -> None:
    """End a trial whose sampled parameters equal a finished trial's, before training: free
    (not counted), so the sampler is asked again on the next trial. A re-queued trial (a dead
    worker's, re-run with its parameters on purpose) is not a replay: its twin failed."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    twin = next(
        (t.number for t in done if t.number != trial.number and t.params == trial.params), None
    )
    if twin is None:
        repeats.in_a_row = 0
        return
    repeats.in_a_row += 1
    trial.set_user_attr("free", True)
    trial.set_user_attr("replay_of", twin)
    if repeats.exhausted:
        study.stop()
    # Failed, not pruned: a sampler learns nothing from it (TPE would file a pruned trial
    # among the bad ones, at the parameters of what may be the best trial).
    raise _ReplayError(f"the parameters of trial {twin}, which finished: not run again")


def _objective(
    study: Any,
    space: dict[str, ParamSpec],
    budget: int,
    trial_fn: TrialFn,
    sample: SampleFn | None = None,
    repeats: _Replays | None = None,
    threads: ThreadBudget | None = None,
) -> Callable[[Any], float | tuple[float, ...]]:
    import optuna

    repeats = repeats if repeats is not None else _Replays()

    def objective(trial: Any) -> float | tuple[float, ...]:
        # Checked at the start, against the storage: other workers may have used the budget or
        # met the target since this process last looked.
        if _met(study) or budget_used(study, before=trial.number) >= budget:
            trial.set_user_attr("skipped", True)
            study.stop()
            raise _SkippedError
        trial.set_user_attr("worker", worker_id())
        for key in ("free", "same_as", "replay_of"):  # a re-run starts with its twin's copies
            if trial.user_attrs.get(key) is not None:
                trial.set_user_attr(key, None)
        params = sample(trial) if sample is not None else suggest(trial, space)
        if sample is None:  # the efficiency search answers its repeats from their records
            _refuse_a_replay(study, trial, repeats)

        def report(epoch: int, value: float) -> None:
            trial.report(value, epoch)
            if threads is not None:  # a neighbour may have left (or joined) since the start
                threads.refresh(study)
            if trial.should_prune():
                trial.set_user_attr("pruned_at_epoch", epoch)
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        if threads is not None:  # this host's cores, shared by the processes training there
            trial.set_user_attr("train_threads", threads.apply(study))
        try:
            result = trial_fn(params, trial.number, report)
        except (TrainingError, ModelError, TrialFailedError) as exc:
            trial.set_user_attr("error", str(exc))
            raise
        except TrialRejectedError as exc:
            for key, value in exc.attrs.items():
                trial.set_user_attr(key, value)
            for key, bound in exc.constraints.items():
                trial.set_constraint(key, bound)
            raise optuna.TrialPruned(str(exc)) from None
        except KeyboardInterrupt:  # re-run on --resume, like a trial whose process died
            trial.set_user_attr("interrupted", True)
            raise
        for key, value in result.attrs.items():
            trial.set_user_attr(key, value)
        for key, bound in result.constraints.items():
            trial.set_constraint(key, bound)
        trial.set_user_attr("meets", result.meets)
        return result.value

    return objective


def _snapshot(study: Any, budget: int, started: float, timeout_s: float | None) -> SearchSnapshot:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    single = len(study.directions) == 1  # a multi-objective study has a front, not a best
    values = [t.value for t in complete if single and t.value is not None]
    best = None
    if values:
        best = max(values) if study.direction.name == "MAXIMIZE" else min(values)
    return SearchSnapshot(
        counted=sum(1 for t in trials if counts_toward_budget(t) and t.state.is_finished()),
        budget=budget,
        complete=len(complete),
        pruned=sum(1 for t in trials if t.state == TrialState.PRUNED),
        failed=sum(1 for t in trials if t.state == TrialState.FAIL and counts_toward_budget(t)),
        best=best,
        elapsed_s=time.monotonic() - started,
        timeout_s=timeout_s,
    )


def run_search(
    study: Any,
    space: dict[str, ParamSpec],
    budget: int,
    trial_fn: TrialFn,
    timeout_s: float | None = None,
    on_update: Callable[[SearchSnapshot], None] | None = None,
    poll_s: float = 1.0,
    sample: SampleFn | None = None,
    threads: ThreadBudget | None = None,
) -> str:
    """Run trials until the target is met or the budget is spent; return why it stopped.
    ``threads``: this process's share of its host's cores for training (``tune.hosts``)."""
    try:
        return _search(
            study, space, budget, trial_fn, timeout_s, on_update, poll_s, sample, threads
        )
    finally:
        if threads is not None:
            threads.leave(study)


def _search(
    study: Any,
    space: dict[str, ParamSpec],
    budget: int,
    trial_fn: TrialFn,
    timeout_s: float | None,
    on_update: Callable[[SearchSnapshot], None] | None,
    poll_s: float,
    sample: SampleFn | None,
    threads: ThreadBudget | None,
) -> str:
    import optuna
    from optuna.storages._heartbeat import is_heartbeat_enabled
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(logging.ERROR)
    started = time.monotonic()
    replays = _Replays()
    objective = _objective(study, space, budget, trial_fn, sample, replays, threads)

    def after_trial(study: Any, trial: Any) -> None:
        if on_update is not None:
            on_update(_snapshot(study, budget, started, timeout_s))
        if (trial.state == TrialState.COMPLETE and trial.user_attrs.get("meets")) or (
            budget_used(study) >= budget
        ):
            study.stop()

    if on_update is not None:
        on_update(_snapshot(study, budget, started, timeout_s))
    while True:
        if _met(study):
            return "target met on validation"
        left = None if timeout_s is None else timeout_s - (time.monotonic() - started)
        if left is not None and left <= 0:
            return "time budget spent"
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if budget_used(study) < budget or waiting:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                study.optimize(
                    objective,
                    timeout=left,
                    callbacks=[after_trial],
                    catch=(
                        _SkippedError,
                        _ReplayError,
                        TrainingError,
                        ModelError,
                        TrialFailedError,
                    ),
                    gc_after_trial=False,
                )
            if getattr(study.sampler, "is_exhausted", lambda _: False)(study):
                return "every grid point tried"
            if replays.exhausted:
                return f"the sampler proposed finished parameters {MAX_REPLAYS} times in a row"
            if _met(study):
                return "target met on validation"
            if timeout_s is not None and time.monotonic() - started >= timeout_s:
                return "time budget spent"
            if budget_used(study) < budget:
                continue
        # Budget spent here; another worker may still run a trial that could die and be
        # re-queued, so wait until nothing is running before leaving.
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not is_heartbeat_enabled(study._storage):  # one process owns it: nothing to wait for
            running = []
        if not running and not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return "target met on validation" if _met(study) else "trial budget spent"
        time.sleep(poll_s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
