"""The evaluate box and the first decision, "quality met?": the trained baseline is evaluated
on the validation split, which decides; when it misses a target there (or ``tune.when=always``),
the quality loop searches hyperparameters and its chosen trial is carried on if it is better.
The test split is not read here: it confirms the deployed model once, after every choice
(``zenopt.flow.confirm``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zenopt.core.records import Decision, RequirementCheck
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.requirements import check_quality
from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.flow.manifest import public_config, to_yaml
from zenopt.flow.train import evaluate_split
from zenopt.flow.tune import QualityLoopResult, run_quality_loop
from zenopt.models.registry import pythonpath_prefix
from zenopt.tune.space import apply_params

__all__ = ["QualityOutcome", "quality_stage"]


@dataclass(frozen=True)
class QualityOutcome:
    """The model the flow carries on, its validation metrics, and the quality decision."""

    baseline: Baseline
    validation: dict[str, Any]
    checks: list[RequirementCheck]
    decision: Decision


def _better(chosen: dict[str, Any], baseline_val: dict[str, Any], metric: str) -> bool:
    """Carry the chosen trial on when it met every target on validation, or beats the baseline
    on the study's validation metric (a search that found nothing better keeps the baseline)."""
    if chosen["meets"]:
        return True
    value, base = chosen["value"], baseline_val.get(metric)
    if base is None:
        return True
    return bool(value < base) if metric in {"mse", "mae"} else bool(value > base)


def _tuned_decision(
    checks: list[RequirementCheck], summary: dict[str, Any], carried: bool
) -> Decision:
    counts, chosen = summary["counts"], summary["chosen"]
    ran = (
        f"searched {counts['counted']} trials ({counts['pruned']} pruned, "
        f"{counts['failed']} failed; {summary['stopped']})"
    )
    missed = [c.name for c in checks if not c.met]
    if chosen is None:
        action = f"{ran}: no trial finished, so the trained baseline is carried on"
    elif not carried:
        action = (
            f"{ran}: the best trial ({chosen['number']}, validation {summary['metric']} "
            f"{chosen['value']:.4f}) is no better than the baseline, which is carried on"
        )
    else:
        head = f"{ran}: trial {chosen['number']}"
        if not missed:
            action = f"{head} met every target on validation; carried on"
        elif chosen["meets"]:
            action = (
                f"{head} met every target in its trial but misses {', '.join(missed)} on "
                "validation as restored here; carried on, and the verdict says missed"
            )
        else:
            action = (
                f"{head} is the best (validation {summary['metric']} {chosen['value']:.4f}), "
                "but no trial met every target on validation; carried on"
            )
    return Decision("quality", not missed, missed, action)


def quality_stage(ctx: RunContext, trained: Baseline, record: RunRecord) -> QualityOutcome:
    """Evaluate the trained baseline on validation; tune when quality is missed there (or
    always, if asked)."""
    metric, _ = primary_metric(ctx.task)
    val = evaluate_split(trained.model, trained.spec.head, ctx.data, "val")
    record.manifest["quality"] = {"primary_metric": metric, "validation": val}
    req, when = ctx.config.requirements, ctx.config.tune.when
    checks = check_quality(req, val, "validation split")
    if when == "always" or (when == "missed" and any(not c.met for c in checks)):
        return _tune(ctx, trained, val, record)
    action = "missed, and tune.when=never: the trained baseline is carried on unchanged"
    decision = Decision.from_checks("quality", checks, action)
    return QualityOutcome(trained, val, checks, decision)


def _tune(
    ctx: RunContext, trained: Baseline, val: dict[str, Any], record: RunRecord
) -> QualityOutcome:
    """Run the quality loop; carry its chosen trial on if it is better than the baseline."""
    with record.timed("tune_s"):
        loop = run_quality_loop(ctx)
    manifest = record.manifest
    manifest["tune"] = loop.summary
    chosen = loop.summary["chosen"]
    carry = (
        loop.model is not None
        and chosen is not None
        and _better(chosen, val, loop.summary["metric"])
    )
    if carry and loop.model is not None and loop.spec is not None and loop.training:
        trained = _carry_on(ctx, loop, val, record)
        val = manifest["quality"]["validation"]
    manifest["tune"]["carried_on"] = f"trial {chosen['number']}" if carry else "baseline"
    checks = check_quality(ctx.config.requirements, val, "validation split")
    return QualityOutcome(trained, val, checks, _tuned_decision(checks, loop.summary, carry))


def _carry_on(
    ctx: RunContext, loop: QualityLoopResult, val: dict[str, Any], record: RunRecord
) -> Baseline:
    """The chosen trial's model replaces the baseline: evaluated again, its training recorded
    (the baseline's kept beside it), and its configuration written as ``best_config.yaml``."""
    assert loop.model is not None and loop.spec is not None and loop.training is not None
    manifest = record.manifest
    model, spec = loop.model, loop.spec
    manifest["quality"]["baseline"] = {"validation": val}
    manifest["quality"]["validation"] = evaluate_split(model, spec.head, ctx.data, "val")
    manifest["model"] = {**spec.to_dict(), "loss": loop.training["loss"]}
    manifest["baseline_training"] = manifest["training"]
    manifest["training"] = loop.training["training"]
    best = apply_params(ctx.config, loop.summary["chosen"]["params"])
    best.tune.when = "never"
    record.run.write_text("best_config.yaml", to_yaml(public_config(best)))
    prefix = pythonpath_prefix(spec.factory_folder)  # a user's model: importable from anywhere
    manifest["tune"]["reproduce"] = f"{prefix}zenopt run --config best_config.yaml"
    return Baseline(model, spec)
