"""One trial of the efficiency search: a plan, checked for speed before any training, then
applied (resuming from cached prefixes), saved, measured in its runtime next to the FP32
baseline, and judged by the acceptance rule. Every trial leaves ``candidate.json`` in its
folder, and the search's front and best-so-far are rewritten after it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from zenopt.compress import CompressState, plan_label
from zenopt.compress.acceptance import SpeedComparison, interval, judge, search_constraints
from zenopt.compress.candidate import deploy_path, save_candidate
from zenopt.compress.fidelity import fidelity
from zenopt.core.compress_config import Step
from zenopt.core.errors import first_line
from zenopt.flow.candidate import candidate_checks, candidate_record
from zenopt.flow.compress import make_context
from zenopt.flow.efficiency.precheck import precheck
from zenopt.flow.efficiency.repeats import earlier_record
from zenopt.flow.efficiency.setup import FREE_TRIALS, SearchSetup, plan_of, write_record
from zenopt.profile.rounds import time_in_rounds
from zenopt.profile.trace import span
from zenopt.tune.search import ReportFn, TrialFailedError, TrialRejectedError, TrialResult
from zenopt.tune.study import study_lock

__all__ = ["make_search_trial", "objective_values"]


def _speeds(setup: SearchSetup, runtime: str, path: Path, threads: int) -> list[SpeedComparison]:
    ctx = setup.ctx
    req, search = ctx.config.requirements, ctx.config.compress.search
    times = time_in_rounds(
        {
            "candidate": (runtime, path, threads),
            "baseline": ("onnxruntime", setup.baseline.files["onnx"], ctx.threads),
        },
        ctx.splits.val.X,
        req.latency_batch,
        req.throughput_batch,
        search.rounds,
    )
    cand, base = times["candidate"], times["baseline"]
    conf = search.confidence
    return [
        SpeedComparison(
            f"b{req.latency_batch} latency, ms",
            interval(cand.latency_ms, conf),
            interval(base.latency_ms, conf),
            higher_is_better=False,
        ),
        SpeedComparison(
            f"b{req.throughput_batch} throughput, samples/s",
            interval(cand.throughput, conf),
            interval(base.throughput, conf),
            higher_is_better=True,
        ),
    ]


def _free(setup: SearchSetup, number: int) -> bool:
    """A trial that took seconds (a repeat, or a plan rejected before training) is free while
    the allowance lasts; past it, it counts, so a search that only repeats still ends. The
    allowance is the study's, across every process on it: counted and claimed under the
    study's lock, so that two workers never both take its last free trial."""
    study = setup.study
    allowance = FREE_TRIALS * setup.config.compress.search.trials
    with study_lock(study):
        taken = sum(
            1
            for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get("free") and t.number != number and t.state.name != "FAIL"
        )
        free = taken < allowance
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
        study._storage.set_trial_user_attr(trial_id, "free", free)
    return free


def objective_values(setup: SearchSetup, record: dict[str, Any]) -> tuple[float, float, float]:
    """What the study optimises: validation quality, speed (latency or throughput, as
    ``objective`` says) and size in MB. The test split only judges, it never steers."""
    req, search = setup.config.requirements, setup.config.compress.search
    metric = record["primary_metric"]
    if search.objective == "throughput":
        speed = record["profile"]["throughput"][f"b{req.throughput_batch}"]
    else:
        lat = record["profile"]["latency_ms"][f"b{req.latency_batch}"]
        speed = lat[f"p{req.latency_percentile}"]
    return float(record["validation"][metric]), float(speed), record["size_bytes"] / 1e6


def _repeat(setup: SearchSetup, number: int, label: str) -> None:
    """A plan drawn before, by any process on the study, is answered from the first trial's
    record (waiting for it if it is still running), and ended as a rejection that marks the
    plan as seen (+1 on its constraints), so that the sampler moves on."""
    same = earlier_record(setup, number, label)
    if same is None:
        return
    record = {**same, "trial": number, "same_as": same["trial"], "free": _free(setup, number)}
    write_record(setup.folder / f"trial-{number:05d}", record)
    setup.summarise()
    seen = {**same.get("constraints", {}), "repeat": 1.0}
    attrs = {"plan": label, "same_as": same["trial"], "free": record["free"]}
    raise TrialRejectedError(f"same plan as trial {same['trial']}", attrs, seen)


def _reject_early(setup: SearchSetup, steps: list[Step], number: int, work: Path) -> None:
    """End the trial in seconds when the plan's untrained form misses a speed or size target."""
    tick = time.perf_counter()
    rejected = precheck(setup, steps, work)
    if rejected is None:
        return
    label = plan_label(steps)
    rejected["free"] = _free(setup, number)
    record = {"trial": number, "plan": label, **rejected, "seconds": time.perf_counter() - tick}
    write_record(setup.folder / f"trial-{number:05d}", record)
    setup.summarise()
    reason = "; ".join(rejected["rejected_before_training"])
    bounds = rejected.pop("constraints")
    raise TrialRejectedError(reason, {"plan": label, **rejected}, bounds)


def _apply(
    setup: SearchSetup, steps: list[Step], number: int, work: Path
) -> tuple[CompressState, dict[str, Path]]:
    """Apply the plan (from the longest cached prefix) and save the candidate in its folder."""
    ctx = setup.ctx
    context = make_context(ctx.config, ctx.data, setup.baseline.model, work / "ctx")
    if setup.progress is not None:
        context.progress = lambda what, done, total: setup.progress(
            f"trial {number}: {what} epoch {done}/{total}"
        )
    state = setup.cache.apply(steps, setup.baseline.model, setup.baseline.spec, context)
    state.threads = state.threads or ctx.threads
    files = save_candidate(state, setup.folder / f"trial-{number:05d}", ctx.splits.val.X)
    return state, files


def _judge(
    setup: SearchSetup, state: CompressState, files: dict[str, Path], steps: list[Step]
) -> dict[str, Any]:
    """Measure the candidate on the validation split and, side by side with the FP32 baseline,
    its speed; accept it or not; and record what the sampler steers by."""
    ctx, config = setup.ctx, setup.config
    record = candidate_record(ctx, state, files, steps, setup.measured)
    path = deploy_path(files, record["runtime"])
    speeds = _speeds(setup, record["runtime"], path, state.threads or ctx.threads)
    acceptance = judge(record["quality_drop"], setup.budget, speeds)
    record.update(
        {
            "cached_steps": setup.cache.hits[-1] if setup.cache.hits else 0,
            "quality_budget": setup.budget,
            "speed_vs_baseline": [s.to_dict() for s in speeds],
            "acceptance": acceptance.to_dict(),
        }
    )
    checks = candidate_checks(config, record)
    record["requirements"] = [c.to_dict() for c in checks]
    record["missed"] = [c.name for c in checks if not c.met]
    record["feasible"] = acceptance.accepted and not record["missed"]
    steer = [c for c in checks if c.name != "max_quality_drop"]
    record["constraints"] = search_constraints(steer, speeds, record["quality_drop"], setup.budget)
    return record


def _check_fidelity(
    setup: SearchSetup,
    state: CompressState,
    files: dict[str, Path],
    steps: list[Step],
    number: int,
) -> dict[str, Any]:
    """The candidate in its runtime against the FP32 form it came from, on validation rows;
    below ``compress.min_agreement`` it is a broken candidate, rejected before its quality."""
    ctx = setup.ctx
    checked = fidelity(state, files, ctx.splits.val.X, state.threads or ctx.threads)
    least = setup.config.compress.min_agreement
    if checked["agreement"] >= least:
        return checked
    reason = (
        f"fidelity: {checked['agreement']:.1%} top-1 agreement with its FP32 form on "
        f"validation (compress.min_agreement {least:.0%}); max |difference| "
        f"{checked['max_abs_diff']:.3g}"
    )
    record = {"trial": number, "plan": plan_label(steps), "notes": state.notes}
    record.update({"fidelity": checked, "rejected": [reason]})
    write_record(setup.folder / f"trial-{number:05d}", record)
    setup.summarise()
    bound = {"fidelity": least - checked["agreement"]}
    raise TrialRejectedError(reason, {"plan": record["plan"], "rejected": "fidelity"}, bound)


def _fail(setup: SearchSetup, number: int, params: dict[str, Any], exc: Exception) -> None:
    """One candidate that raised: recorded with its error's type and first line, so that the
    search goes on (the trial fails; the run fails only when every candidate did)."""
    error = f"{type(exc).__name__}: {first_line(exc)}"
    try:
        label = plan_label(plan_of(params))
    except Exception:  # the plan itself did not parse
        label = str(params.get("steps"))
    write_record(
        setup.folder / f"trial-{number:05d}", {"trial": number, "plan": label, "error": error}
    )
    setup.summarise()
    raise TrialFailedError(error) from exc


def make_search_trial(setup: SearchSetup) -> Any:
    first = setup.config.compress.search.stop == "first_feasible"

    def run_trial(params: dict[str, Any], number: int, report: ReportFn) -> TrialResult:
        del report  # a plan has no intermediate values to prune on
        try:
            with span(f"search trial {number}: {plan_label(plan_of(params))}"):
                return _trial(params, number)
        except (TrialRejectedError, TrialFailedError):
            raise
        except Exception as exc:  # any other error is this candidate's, not the search's
            _fail(setup, number, params, exc)
            raise  # unreachable: _fail raises

    def _trial(params: dict[str, Any], number: int) -> TrialResult:
        steps = plan_of(params)
        tick = time.perf_counter()
        _repeat(setup, number, plan_label(steps))
        with tempfile.TemporaryDirectory(prefix="zenopt-search-") as tmp:
            _reject_early(setup, steps, number, Path(tmp))
            state, files = _apply(setup, steps, number, Path(tmp))
        checked = _check_fidelity(setup, state, files, steps, number)
        record = {"trial": number, **_judge(setup, state, files, steps), "fidelity": checked}
        record["seconds"] = time.perf_counter() - tick
        return _finish(setup, record, first)

    return run_trial


def _finish(setup: SearchSetup, record: dict[str, Any], first: bool) -> TrialResult:
    write_record(setup.folder / f"trial-{record['trial']:05d}", record)
    setup.last = setup.summarise()
    attrs = {
        "free": bool(record.get("free")),
        "plan": record["plan"],
        "feasible": record["feasible"],
        "accepted": record["acceptance"]["accepted"],
        "missed": record["missed"],
        "folder": f"trial-{record['trial']:05d}",
    }
    constraints = record.get("constraints", {})
    return TrialResult(
        objective_values(setup, record), first and record["feasible"], attrs, constraints
    )
