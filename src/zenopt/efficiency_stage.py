"""The flow's efficiency stage after the baseline is measured: a configured
``compress.plan`` applied, or the efficiency search run; either way the requirements are then
judged on the candidate handed back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from zenopt.core.config import RunConfig
from zenopt.core.records import Decision, RequirementCheck
from zenopt.core.rundir import RunDir
from zenopt.models import DeployableModel, ModelSpec
from zenopt.stages import DataStage

__all__ = ["compress_stage", "search_stage"]


def compress_stage(
    config: RunConfig,
    stage: DataStage,
    model: DeployableModel,
    spec: ModelSpec,
    artifacts: dict[str, Path],
    run: RunDir,
    manifest: dict[str, Any],
    console: Console,
    quiet: bool,
    threads: int,
) -> tuple[list[RequirementCheck], list[RequirementCheck], Decision]:
    """Apply ``compress.plan``; the requirements are judged on its candidate, which becomes
    the deployed model."""
    from zenopt.compress_flow import apply_configured_plan

    record, checks = apply_configured_plan(
        config, stage, model, spec, artifacts, run.path, console, quiet, threads
    )
    manifest["compress"] = {"plan": record["plan"], "candidate": record}
    efficiency = [c for c in checks if c.kind == "efficiency"]
    done = f"compress.plan {record['plan']} applied"
    decision = Decision.from_checks("efficiency", efficiency, f"{done}; the candidate misses these")
    if decision.met:
        decision = Decision("efficiency", True, [], f"{done}; the candidate meets them all")
    return [c for c in checks if c.kind == "quality"], efficiency, decision


def search_stage(
    config: RunConfig,
    stage: DataStage,
    trained: tuple[DeployableModel, ModelSpec],
    artifacts: dict[str, Path],
    run: RunDir,
    manifest: dict[str, Any],
    output: tuple[Console, bool],
    threads: int,
    baseline_checks: tuple[list[RequirementCheck], list[RequirementCheck]],
) -> tuple[list[RequirementCheck], list[RequirementCheck], Decision]:
    """Run the efficiency search; its chosen candidate becomes the deployed model. With none
    feasible, the baseline's checks stand (the verdict says missed) and the closest plans are
    named."""
    from zenopt.compress_flow import candidate_checks
    from zenopt.efficiency_loop import run_efficiency_loop

    model, spec = trained
    console, quiet = output
    resumed = bool(manifest.get("resumed"))
    result = run_efficiency_loop(
        config, stage, model, spec, artifacts, run.path, console, quiet, threads, resumed
    )
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
        checks = candidate_checks(config, record)
        action = (
            f"{ran}: trial {record['trial']}, {record['plan']}, is the best feasible plan by "
            f"{config.compress.search.objective}"
        )
        efficiency = [c for c in checks if c.kind == "efficiency"]
        quality = [c for c in checks if c.kind == "quality"]
        return quality, efficiency, Decision("efficiency", True, [], action)
    closest = "; ".join(
        f"trial {r['trial']} ({r['plan']}) misses "
        + ", ".join(r["missed"] + ([] if r["accepted"] else ["acceptance"]))
        for r in summary["closest"]
    )
    action = f"{ran}: none is feasible, so the exported baseline is handed back"
    if closest:
        action += f"; closest: {closest}"
    quality, efficiency = baseline_checks
    missed = [c.name for c in quality + efficiency if not c.met]
    return quality, efficiency, Decision("efficiency", not missed, missed, action)
