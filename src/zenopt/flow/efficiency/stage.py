"""The second decision, "efficiency met?": the exported baseline is judged in the deployed
runtime against the speed, size and quality-drop targets (the drop on the validation split);
then a configured ``compress.plan`` is applied, or (when a target is missed, or
``compress.search.when=always``) the efficiency search runs. Both see the data with the test
split held out; the test split confirms the model handed back afterwards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zenopt.core.records import Decision, RequirementCheck
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.paired import resolve_drop_mode
from zenopt.evaluate.requirements import check_efficiency, drop_detail, measure_drop
from zenopt.flow.candidate import candidate_checks, torch_reference
from zenopt.flow.compress import apply_configured_plan
from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.flow.efficiency.search import run_efficiency_loop
from zenopt.flow.profile import Profiled
from zenopt.flow.quality import QualityOutcome

__all__ = ["Judged", "efficiency_stage", "judge_baseline"]


@dataclass(frozen=True)
class Judged:
    """The requirements checked on the model handed back, and the efficiency decision."""

    quality: list[RequirementCheck]
    efficiency: list[RequirementCheck]
    decision: Decision


def judge_baseline(
    ctx: RunContext, quality: QualityOutcome, profiled: Profiled, manifest: dict[str, Any]
) -> Judged:
    """The exported baseline in the deployed runtime: its validation quality drop against
    PyTorch and the efficiency targets (ratios against PyTorch eager FP32, when profiled)."""
    req = ctx.config.requirements
    metric, _ = primary_metric(ctx.task)
    deploy, sizes = req.backend, profiled.sizes
    drop = measure_drop(req, quality.validation, profiled.quality[deploy], metric)
    manifest["quality"]["drop"] = {
        "backend": deploy,
        "metric": metric,
        "value": drop,
        "mode": resolve_drop_mode(req.quality_drop_mode, metric),
        "split": "validation",
    }
    torch_size = sizes["safetensors"] + sizes["spec"]
    reference = None
    if "torch" in profiled.profiles:
        reference = torch_reference(
            {"profile": profiled.profiles["torch"], "size_bytes": torch_size}
        )
    deploy_size = sizes["onnx"] if deploy == "onnxruntime" else torch_size
    detail = drop_detail(req, metric, "validation split")
    profile = profiled.profiles[deploy]
    checks = check_efficiency(req, profile, deploy_size, drop, reference, detail)
    decision = Decision.from_checks(
        "efficiency",
        checks,
        "missed, and compress.search.when=never: the exported baseline is handed back as it is",
    )
    return Judged(quality.checks, checks, decision)


def efficiency_stage(
    ctx: RunContext, baseline: Baseline, judged: Judged, record: RunRecord
) -> Judged:
    """Apply ``compress.plan``, or search when efficiency is missed (or always, if asked); with
    neither, the baseline's ``judged`` stands."""
    search = ctx.config.compress.search
    missed = any(not c.met for c in judged.efficiency)
    if ctx.config.compress.plan:
        with record.timed("compress_s"):
            return _configured_plan(ctx.selection(), baseline, record.manifest)
    if search.when == "always" or (search.when == "missed" and missed):
        with record.timed("search_s"):
            return _search(ctx.selection(), baseline, judged, record.manifest)
    return judged


def _split(checks: list[RequirementCheck]) -> tuple[list[RequirementCheck], ...]:
    return [c for c in checks if c.kind == "quality"], [c for c in checks if c.kind != "quality"]


def _configured_plan(ctx: RunContext, baseline: Baseline, manifest: dict[str, Any]) -> Judged:
    """Apply ``compress.plan``; the requirements are judged on its candidate, which becomes
    the deployed model."""
    record, checks = apply_configured_plan(ctx, baseline)
    manifest["compress"] = {"plan": record["plan"], "candidate": record}
    quality, efficiency = _split(checks)
    done = f"compress.plan {record['plan']} applied"
    decision = Decision.from_checks("efficiency", efficiency, f"{done}; the candidate misses these")
    if decision.met:
        decision = Decision("efficiency", True, [], f"{done}; the candidate meets them all")
    return Judged(quality, efficiency, decision)


def _search(
    ctx: RunContext, baseline: Baseline, judged: Judged, manifest: dict[str, Any]
) -> Judged:
    """Run the efficiency search; its chosen candidate becomes the deployed model. With none
    feasible, the baseline's checks stand (the verdict says missed) and the closest plans are
    named."""
    result = run_efficiency_loop(ctx, baseline)
    summary = result.summary
    manifest["search"] = summary
    counts = summary["counts"]
    ran = (
        f"searched {counts['trials']} plans, {counts['counted']} counted "
        f"({counts['rejected_before_training']} rejected "
        f"before training, {counts['accepted']} accepted, {counts['feasible']} feasible; "
        f"{summary['stopped']})"
    )
    if result.chosen is not None:
        record = result.chosen
        manifest["compress"] = {"plan": record["plan"], "candidate": record, "source": "search"}
        action = (
            f"{ran}: trial {record['trial']}, {record['plan']}, is the best feasible plan by "
            f"{ctx.config.compress.search.objective}"
        )
        quality, efficiency = _split(candidate_checks(ctx.config, record))
        return Judged(quality, efficiency, Decision("efficiency", True, [], action))
    closest = "; ".join(
        f"trial {r['trial']} ({r['plan']}) misses "
        + ", ".join(r["missed"] + ([] if r["accepted"] else ["acceptance"]))
        for r in summary["closest"]
    )
    action = f"{ran}: none is feasible, so the exported baseline is handed back"
    if closest:
        action += f"; closest: {closest}"
    missed = [c.name for c in judged.quality + judged.efficiency if not c.met]
    return Judged(
        judged.quality, judged.efficiency, Decision("efficiency", not missed, missed, action)
    )
