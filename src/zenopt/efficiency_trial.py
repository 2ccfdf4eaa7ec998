"""One trial of the efficiency search: a plan, checked for speed before any training, then
applied (resuming from cached prefixes), saved, measured in its runtime next to the FP32
baseline, and judged by the acceptance rule. Every trial leaves ``candidate.json`` in its
folder, and the search's front and best-so-far are rewritten after it.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from zenopt.compress import plan_label
from zenopt.compress.acceptance import SpeedComparison, interval, judge, search_constraints
from zenopt.compress.candidate import (
    Measured,
    deploy_path,
    deployed_size,
    save_candidate,
)
from zenopt.compress.dominance import dominating_record, layer_widths
from zenopt.compress.prefix_cache import PrefixCache
from zenopt.compress.search_space import speed_only
from zenopt.compress.search_summary import write_summary
from zenopt.compress_flow import (
    candidate_checks,
    make_context,
    measure_on_test,
    ratios,
)
from zenopt.core.compress_config import Step
from zenopt.core.config import RunConfig
from zenopt.core.records import BackendProfile, json_default
from zenopt.core.rundir import atomic_write_text
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.quality import evaluate_outputs
from zenopt.evaluate.requirements import (
    Reference,
    check_efficiency,
    check_quality,
    measure_drop,
    speed_targets_set,
)
from zenopt.models import DeployableModel, ModelSpec
from zenopt.profile.latency import profile_backend
from zenopt.profile.rounds import time_in_rounds
from zenopt.runtime.predictor import predict_with_backend
from zenopt.stages import DataStage
from zenopt.tune.search import ReportFn, TrialRejectedError, TrialResult

__all__ = ["SearchSetup", "make_search_trial", "plan_of", "precheck_misses"]

_STEPS: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


@dataclass
class SearchSetup:
    """Everything a trial needs, fixed for the whole search."""

    config: RunConfig
    stage: DataStage
    model: DeployableModel  # the trained FP32 baseline (the teacher, too)
    spec: ModelSpec
    baseline_files: dict[str, Path]
    baseline: dict[str, Measured]  # torch and onnxruntime FP32, measured as candidates are
    folder: Path  # trials, cache, front.json, best.json
    threads: int
    budget: float  # the quality-drop budget, in requirements.quality_drop_mode units
    cache: PrefixCache
    higher: bool = True  # the primary metric is better when higher
    baseline_val: dict[str, Any] = field(default_factory=dict)  # the trained model, validation
    free_left: int = 0  # repeats and plans rejected before training that may still be free
    progress: Any = None  # called with a short text while a trial works
    last: dict[str, Any] = field(default_factory=dict)


def plan_of(params: dict[str, Any]) -> list[Step]:
    return _STEPS.validate_python(params["steps"])


def _reference(setup: SearchSetup) -> Reference:
    torch_fp32 = setup.baseline["torch"]
    return Reference(BackendProfile.from_dict(torch_fp32.profile), torch_fp32.size_bytes)


def precheck_misses(
    config: RunConfig, profile: BackendProfile, size: int, reference: Reference, margin: float
) -> list[str]:
    """The speed and size targets the untrained plan misses by more than ``margin``."""
    misses = []
    for check in check_efficiency(config.requirements, profile, size, 0.0, reference):
        if check.name == "max_quality_drop" or check.measured is None:
            continue
        higher = check.name.startswith("min_")
        bound = check.target * (1 - margin) if higher else check.target * (1 + margin)
        if check.measured < bound if higher else check.measured > bound:
            misses.append(
                f"{check.name}: {check.measured:.4g}{check.unit} before training "
                f"(target {check.target:g}{check.unit}, margin {margin:.0%})"
            )
    return misses


def _precheck(setup: SearchSetup, steps: list[Step], work: Path) -> dict[str, Any] | None:
    """Apply the plan without training and time it; the failed targets, or None if none."""
    req, search = setup.config.requirements, setup.config.compress.search
    if not speed_targets_set(req):
        return None  # nothing a plan's untrained form could miss
    ctx = make_context(setup.config, setup.stage, setup.model, work / "ctx")
    state = setup.cache.apply(speed_only(steps), setup.model, setup.spec, ctx)
    dumped = [step.model_dump(mode="json") for step in steps]
    dominated = dominating_record(dumped, layer_widths(state.notes), _measured(setup.folder))
    if dominated is not None:
        record, missed = dominated
        why = f"as trial {record['trial']} did (the same plan but for weights, no layer narrower)"
        return {
            "rejected_before_training": [f"{name}: missed {why}" for name in missed],
            "dominated_by": record["trial"],
            "constraints": {**record.get("constraints", {}), "dominated": 1.0},
        }
    state.threads = state.threads or setup.threads
    files = save_candidate(state, work / "speed", setup.stage.prepared.splits.val.X)
    runtime = state.runtime or "onnxruntime"
    batches = sorted({req.latency_batch, req.throughput_batch})
    profile = profile_backend(
        runtime,
        deploy_path(files, runtime),
        setup.stage.prepared.splits.val.X,
        batches,
        10,
        setup.config.bench.repeats,  # a tail percentile needs as many calls as the baseline's
        10,
        state.threads,
        frozenset({req.latency_batch}),
    )
    size = deployed_size(files, runtime)
    reference = _reference(setup)
    misses = precheck_misses(setup.config, profile, size, reference, search.precheck_margin)
    if not misses:
        return None
    checks = check_efficiency(req, profile, size, 0.0, reference)
    constraints = search_constraints(
        [c for c in checks if c.name != "max_quality_drop"], [], None, setup.budget
    )
    return {
        "rejected_before_training": misses,
        "precheck_size_bytes": size,
        "constraints": constraints,
    }


def _speeds(setup: SearchSetup, runtime: str, path: Path, threads: int) -> list[SpeedComparison]:
    req, search = setup.config.requirements, setup.config.compress.search
    times = time_in_rounds(
        {
            "candidate": (runtime, path, threads),
            "baseline": ("onnxruntime", setup.baseline_files["onnx"], setup.threads),
        },
        setup.stage.prepared.splits.test.X,
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


def _free(setup: SearchSetup) -> bool:
    """A trial that took seconds (a repeat, or a plan rejected before training) is free while
    the allowance lasts; past it, it counts, so a search that only repeats still ends."""
    setup.free_left -= 1
    return setup.free_left >= 0


def _measured(folder: Path) -> list[dict[str, Any]]:
    """The records of the plans trained and measured so far (by any worker), oldest first."""
    records = []
    for path in sorted(folder.glob("trial-*/candidate.json")):
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if "acceptance" in record:
            records.append(record)
    return records


def _duplicate(folder: Path, label: str) -> dict[str, Any] | None:
    return next((r for r in _measured(folder) if r.get("plan") == label), None)


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


def make_search_trial(setup: SearchSetup) -> Any:
    config, stage = setup.config, setup.stage
    splits = stage.prepared.splits
    metric, _ = primary_metric(stage.dataset.task)
    first = config.compress.search.stop == "first_feasible"

    def run_trial(params: dict[str, Any], number: int, report: ReportFn) -> TrialResult:
        del report  # a plan has no intermediate values to prune on
        steps = plan_of(params)
        label = plan_label(steps)
        folder = setup.folder / f"trial-{number:05d}"
        tick = time.perf_counter()
        same = _duplicate(setup.folder, label)
        if same is not None:
            # Answered from the first measurement, and ended as a rejection that marks the
            # plan as seen (+1 on its constraints), so that the sampler moves on to others.
            record = {**same, "trial": number, "same_as": same["trial"], "free": _free(setup)}
            _write(folder, record)
            write_summary(setup.folder, config, setup.higher)
            seen = {**same.get("constraints", {}), "repeat": 1.0}
            attrs = {"plan": label, "same_as": same["trial"], "free": record["free"]}
            raise TrialRejectedError(f"same plan as trial {same['trial']}", attrs, seen)
        with tempfile.TemporaryDirectory(prefix="zenopt-search-") as tmp:
            rejected = _precheck(setup, steps, Path(tmp))
            if rejected is not None:
                rejected["free"] = _free(setup)
                record = {"trial": number, "plan": label, **rejected}
                record["seconds"] = time.perf_counter() - tick
                _write(folder, record)
                write_summary(setup.folder, config, setup.higher)
                reason = "; ".join(rejected["rejected_before_training"])
                bounds = rejected.pop("constraints")
                raise TrialRejectedError(reason, {"plan": label, **rejected}, bounds)
            ctx = make_context(config, stage, setup.model, Path(tmp) / "ctx")
            if setup.progress is not None:
                ctx.progress = lambda what, done, total: setup.progress(
                    f"trial {number}: {what} epoch {done}/{total}"
                )
            state = setup.cache.apply(steps, setup.model, setup.spec, ctx)
            state.threads = state.threads or setup.threads
            files = save_candidate(state, folder, splits.val.X)
        runtime = state.runtime or "onnxruntime"
        measured = measure_on_test(state, files, stage, config)
        path = deploy_path(files, runtime)
        val_out = predict_with_backend(runtime, path, splits.val.X, state.threads)
        val = evaluate_outputs(
            val_out, splits.val.y, state.spec.head, stage.dataset.task, state.spec.class_names
        )
        speeds = _speeds(setup, runtime, path, state.threads)
        torch_fp32 = setup.baseline["torch"]
        drop = measure_drop(config.requirements, torch_fp32.quality, measured.quality, metric)
        acceptance = judge(drop, setup.budget, speeds)
        record = {
            "trial": number,
            "plan": label,
            "steps": [s.model_dump(mode="json") for s in steps],
            "notes": state.notes,
            "runtime": runtime,
            "threads": state.threads,
            "files": {k: p.name for k, p in files.items()},
            "cached_steps": setup.cache.hits[-1] if setup.cache.hits else 0,
            **measured.to_dict(),
            "validation": {k: v for k, v in val.items() if isinstance(v, int | float)},
            "primary_metric": metric,
            "quality_drop": drop,
            "quality_budget": setup.budget,
            "vs_torch_fp32": ratios(measured, torch_fp32),
            "vs_onnxruntime_fp32": ratios(measured, setup.baseline["onnxruntime"]),
            "speed_vs_baseline": [s.to_dict() for s in speeds],
            "acceptance": acceptance.to_dict(),
            "baseline": {k: v.to_dict() for k, v in setup.baseline.items()},
        }
        checks = candidate_checks(config, record)
        record["requirements"] = [c.to_dict() for c in checks]
        record["missed"] = [c.name for c in checks if not c.met]
        record["feasible"] = acceptance.accepted and not record["missed"]
        # What the sampler steers by: validation quality, never the test split.
        val_drop = measure_drop(config.requirements, setup.baseline_val, val, metric)
        steer = [c for c in checks if c.kind == "efficiency" and c.name != "max_quality_drop"]
        steer += check_quality(config.requirements, val, "validation split")
        record["constraints"] = search_constraints(steer, speeds, val_drop, setup.budget)
        record["seconds"] = time.perf_counter() - tick
        return _finish(setup, record, folder, first)

    return run_trial


def _write(folder: Path, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({k: v for k, v in record.items() if k != "baseline"}, default=json_default)
    atomic_write_text(folder / "candidate.json", text + "\n")


def _finish(setup: SearchSetup, record: dict[str, Any], folder: Path, first: bool) -> TrialResult:
    _write(folder, record)
    summary = write_summary(setup.folder, setup.config, setup.higher)
    setup.last = summary
    attrs = {
        "free": bool(record.get("free")),
        "plan": record["plan"],
        "feasible": record["feasible"],
        "accepted": record["acceptance"]["accepted"],
        "missed": record["missed"],
        "folder": folder.name,
    }
    constraints = record.get("constraints", {})
    return TrialResult(
        objective_values(setup, record), first and record["feasible"], attrs, constraints
    )
