"""The last box before the verdict: the test split confirms the chosen model, once, and its
speed is confirmed in one interleaved session beside the FP32 baselines (``speed``).

Every choice is frozen by now (the quality loop's trial and the efficiency search's plan were
selected on the validation split). The model the verdict names as deployed is evaluated on the
test split in its runtime, beside the trained PyTorch FP32 model on the same rows (the paired
drop), and its predictions are written as ``test_predictions.csv``. A quality target or the
drop budget missed here makes the run exit 1; no other candidate is tried, since the test split
confirms and never selects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from zenopt.core.heads import prediction_texts, predictions_csv
from zenopt.core.records import Decision, RequirementCheck, json_default
from zenopt.core.rundir import atomic_write_text
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.paired import paired_drop, resolve_drop_mode
from zenopt.evaluate.quality import evaluate_outputs, predict_torch
from zenopt.evaluate.requirements import check_drop, check_quality, drop_detail
from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.flow.speed import SPEED_TARGETS, SpeedConfirmation, confirm_speed, speed_checks
from zenopt.runtime.deployed import DeployedModel, deployed_model
from zenopt.runtime.predictor import predict_with_backend

__all__ = ["Confirmation", "confirm", "confirm_stage", "confirmation_checks"]


@dataclass(frozen=True)
class Confirmation:
    """The deployed model on the test split: its metrics, the trained model's on the same
    rows, the paired drop between them, and its outputs."""

    deployed: DeployedModel
    metrics: dict[str, Any]
    reference: dict[str, Any]
    drop: dict[str, Any]
    outputs: np.ndarray


def confirm(ctx: RunContext, trained: Baseline, deployed: DeployedModel) -> Confirmation:
    """Evaluate ``deployed`` (in its runtime) and the ``trained`` PyTorch FP32 model on the
    test split; the paired drop of the first against the second."""
    test, spec = ctx.splits.test, trained.spec
    names = ctx.data.dataset.class_names
    threads = deployed.threads or ctx.threads
    outputs = predict_with_backend(
        deployed.runtime, deployed.file(deployed.runtime), test.X, threads
    )
    reference = predict_torch(trained.model, test.X)
    metric, _ = primary_metric(ctx.task)
    mode = resolve_drop_mode(ctx.config.requirements.quality_drop_mode, metric)
    return Confirmation(
        deployed,
        evaluate_outputs(outputs, test.y, spec.head, ctx.task, names),
        evaluate_outputs(reference, test.y, spec.head, ctx.task, names),
        paired_drop(test.y, reference, outputs, spec.head, metric, mode),
        outputs,
    )


def confirmation_checks(
    ctx: RunContext,
    confirmation: Confirmation,
    efficiency: list[RequirementCheck],
    speed: SpeedConfirmation,
) -> list[RequirementCheck]:
    """The verdict's checks: quality targets and the drop budget on the test split, speed on
    the final interleaved session (cautious end), size as measured on the chosen model."""
    req = ctx.config.requirements
    drop = confirmation.drop
    detail = drop_detail(req, drop["metric"], "test split, paired")
    size = [c for c in efficiency if c.name not in {*SPEED_TARGETS, "max_quality_drop"}]
    quality = check_quality(req, confirmation.metrics, "test split")
    return quality + speed_checks(req, speed) + size + check_drop(req, drop["drop"], detail)


def _record_on_candidate(
    ctx: RunContext, confirmation: Confirmation, manifest: dict[str, Any]
) -> None:
    """The chosen candidate's test figures, in the manifest and in its ``candidate.json``."""
    candidate = (manifest.get("compress") or {}).get("candidate")
    if not candidate:
        return
    candidate["test"] = confirmation.metrics
    candidate.setdefault("drop", {})["test"] = confirmation.drop
    path = ctx.run_dir / candidate["folder"] / "candidate.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        saved["test"] = confirmation.metrics
        saved.setdefault("drop", {})["test"] = confirmation.drop
        atomic_write_text(path, json.dumps(saved, indent=2, default=json_default) + "\n")


def _decision(confirmation: Confirmation, checks: list[RequirementCheck]) -> Decision:
    on_test = [c.name for c in checks if not c.met and "test split" in c.detail]
    noisy = [c.name for c in checks if c.noisy]
    metrics, drop = confirmation.metrics, confirmation.drop
    low, high = drop["interval"]
    action = (
        f"the deployed model ({confirmation.deployed.label}) on the test split, "
        f"{metrics['n']} rows: {drop['metric']} {metrics[drop['metric']]:.4g}, drop "
        f"{drop['drop']:.4g} ({drop['mode']}; 95% CI {low:.4g} to {high:.4g})"
    )
    if on_test:
        action += (
            f"; it misses {', '.join(on_test)} there: the run exits 1, and no other candidate "
            "is tried (the test split confirms the choice, it never makes it)"
        )
    action += "; speed confirmed in one interleaved session"
    if noisy:
        action += f" (noisy: {', '.join(noisy)}; see the reasons beside each)"
    return Decision("confirmation", not on_test, on_test, action)


def confirm_stage(
    ctx: RunContext, trained: Baseline, efficiency: list[RequirementCheck], record: RunRecord
) -> list[RequirementCheck]:
    """Confirm the deployed model on the test split; the verdict's requirement checks."""
    manifest = record.manifest
    deployed = deployed_model(ctx.run_dir, manifest)
    with record.timed("confirm_s"):
        confirmation = confirm(ctx, trained, deployed)
    texts = prediction_texts(confirmation.outputs, trained.spec.head, trained.spec.class_names)
    record.run.write_text("test_predictions.csv", predictions_csv(ctx.splits.test.indices, texts))
    manifest.setdefault("artifacts", {})["test_predictions"] = "test_predictions.csv"
    manifest["quality"].update(
        {
            "test": confirmation.metrics,
            "test_model": {"label": deployed.label, "runtime": deployed.runtime},
            "trained_test": confirmation.reference,
            "test_drop": confirmation.drop,
        }
    )
    _record_on_candidate(ctx, confirmation, manifest)
    with record.timed("speed_s"):
        speed = confirm_speed(ctx, trained, deployed)
    manifest["speed"] = speed.to_dict()
    checks = confirmation_checks(ctx, confirmation, efficiency, speed)
    manifest["decisions"]["confirmation"] = _decision(confirmation, checks).to_dict()
    return checks
