"""Before a plan is trained: does every step do something, and is its form fast and small
enough? The plan is applied without training (speed and size depend on the form, not the
weights); a step with no effect (a pruning ratio that rounds to no channel, a quantization
that leaves every operator in float) rejects it, and so does missing a speed or size target by
more than ``precheck_margin``, or being dominated by a measured plan: in seconds instead of
minutes of fine-tuning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zenopt.compress.acceptance import search_constraints
from zenopt.compress.candidate import deploy_path, deployed_size, save_candidate
from zenopt.compress.dominance import dominating_record, layer_widths
from zenopt.compress.effects import no_effect
from zenopt.compress.search_space import speed_only
from zenopt.core.compress_config import Step
from zenopt.core.config import RunConfig
from zenopt.core.records import BackendProfile
from zenopt.evaluate.requirements import Reference, check_efficiency, speed_targets_set
from zenopt.flow.candidate import torch_reference
from zenopt.flow.compress import make_context
from zenopt.flow.efficiency.setup import SearchSetup, measured_records
from zenopt.profile.latency import profile_backend

__all__ = ["precheck", "precheck_misses"]


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


def _dominated(steps: list[Step], notes: list[Any], folder: Path) -> dict[str, Any] | None:
    """The rejection of a plan a measured plan dominates (it missed a speed or size target and
    this plan is the same but for weights, with no layer narrower), or None."""
    dumped = [step.model_dump(mode="json") for step in steps]
    dominated = dominating_record(dumped, layer_widths(notes), measured_records(folder))
    if dominated is None:
        return None
    record, missed = dominated
    why = f"as trial {record['trial']} did (the same plan but for weights, no layer narrower)"
    return {
        "rejected_before_training": [f"{name}: missed {why}" for name in missed],
        "dominated_by": record["trial"],
        "constraints": {**record.get("constraints", {}), "dominated": 1.0},
    }


def precheck(setup: SearchSetup, steps: list[Step], work: Path) -> dict[str, Any] | None:
    """Apply the plan without training: a step with no effect rejects it; then time it, and
    return the failed targets, or None if none."""
    ctx = setup.ctx
    req, search = ctx.config.requirements, ctx.config.compress.search
    context = make_context(ctx.config, ctx.data, setup.baseline.model, work / "ctx")
    state = setup.cache.apply(speed_only(steps), setup.baseline.model, setup.baseline.spec, context)
    idle = no_effect(state.notes)
    if idle:
        return {"rejected_before_training": idle, "no_effect": True, "constraints": {"idle": 1.0}}
    if not speed_targets_set(req):
        return None  # nothing a plan's untrained form could miss
    dominated = _dominated(steps, state.notes, setup.folder)
    if dominated is not None:
        return dominated
    state.threads = state.threads or ctx.threads
    files = save_candidate(state, work / "speed", ctx.splits.val.X)
    runtime = state.runtime or "onnxruntime"
    profile = profile_backend(
        runtime,
        deploy_path(files, runtime),
        ctx.splits.val.X,
        sorted({req.latency_batch, req.throughput_batch}),
        10,
        ctx.config.bench.repeats,  # a tail percentile needs as many calls as the baseline's
        10,
        state.threads,
        frozenset({req.latency_batch}),
    )
    size = deployed_size(files, runtime)
    reference = torch_reference(setup.measured["torch"].to_dict())
    misses = precheck_misses(ctx.config, profile, size, reference, search.precheck_margin)
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
