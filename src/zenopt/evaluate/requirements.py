"""Requirements against measured values: one RequirementCheck per target the user set."""

from __future__ import annotations

from typing import Any

from zenopt.core.config import RequirementsConfig
from zenopt.core.errors import ConfigError
from zenopt.core.records import BackendProfile, RequirementCheck

__all__ = ["QUALITY_TARGETS", "check_efficiency", "check_quality", "validate_requirements"]

# requirement field -> (metric key in the test metrics, higher is better)
QUALITY_TARGETS: dict[str, tuple[str, bool]] = {
    "min_accuracy": ("accuracy", True),
    "min_f1": ("f1_macro", True),
    "min_precision": ("precision_macro", True),
    "min_recall": ("recall_macro", True),
    "max_mse": ("mse", False),
    "max_mae": ("mae", False),
    "min_r2": ("r2", True),
}
REGRESSION_ONLY = {"max_mse", "max_mae", "min_r2"}


def validate_requirements(req: RequirementsConfig, task: str, backends: list[str]) -> None:
    """Reject targets that cannot apply to this task or runtime, before any training."""
    for name in QUALITY_TARGETS:
        if getattr(req, name) is None:
            continue
        if (task == "regression") != (name in REGRESSION_ONLY):
            kind = "regression" if name in REGRESSION_ONLY else "classification"
            raise ConfigError(
                f"requirements.{name} is a {kind} target but the task is {task}; remove it"
            )
    if req.backend not in backends:
        raise ConfigError(
            f"requirements.backend={req.backend!r} is not among bench.backends "
            f"({', '.join(backends)}); add it there or pick one of them"
        )


def _check(
    name: str,
    kind: str,
    target: float,
    measured: float | None,
    higher: bool,
    unit: str,
    detail: str = "",
) -> RequirementCheck:
    met = measured is not None and (measured >= target if higher else measured <= target)
    return RequirementCheck(name, kind, float(target), measured, bool(met), unit, detail)


def check_quality(
    req: RequirementsConfig, metrics: dict[str, Any], split: str = "test split"
) -> list[RequirementCheck]:
    checks = []
    for name, (key, higher) in QUALITY_TARGETS.items():
        target = getattr(req, name)
        if target is not None:
            measured = metrics.get(key)
            checks.append(_check(name, "quality", target, measured, higher, "", split))
    return checks


def check_efficiency(
    req: RequirementsConfig,
    profile: BackendProfile,
    size_bytes: int,
    quality_drop: float,
) -> list[RequirementCheck]:
    checks = []
    where = f"{profile.backend}, {profile.threads}t"
    if req.max_latency_ms is not None:
        stats = profile.latency.get(req.latency_batch)
        measured = stats.percentile(req.latency_percentile) if stats else None
        checks.append(
            _check(
                "max_latency_ms",
                "efficiency",
                req.max_latency_ms,
                measured,
                False,
                "ms",
                f"p{req.latency_percentile} b{req.latency_batch}, {where}",
            )
        )
    if req.min_throughput is not None:
        tp = profile.throughput.get(req.throughput_batch)
        checks.append(
            _check(
                "min_throughput",
                "efficiency",
                req.min_throughput,
                tp.samples_per_s if tp else None,
                True,
                "samples/s",
                f"b{req.throughput_batch}, {where}",
            )
        )
    if req.max_size_mb is not None:
        checks.append(
            _check(
                "max_size_mb",
                "efficiency",
                req.max_size_mb,
                size_bytes / 1e6,
                False,
                "MB",
                f"{profile.backend} file",
            )
        )
    if req.max_quality_drop is not None:
        checks.append(
            _check(
                "max_quality_drop",
                "efficiency",
                req.max_quality_drop,
                quality_drop,
                False,
                "",
                f"torch → {profile.backend}, test",
            )
        )
    return checks
