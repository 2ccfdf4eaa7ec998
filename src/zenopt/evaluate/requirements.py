"""Requirements against measured values: one RequirementCheck per target the user set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zenopt.core.config import RequirementsConfig
from zenopt.core.errors import ConfigError
from zenopt.core.records import BackendProfile, RequirementCheck

__all__ = [
    "CLASS_TARGETS",
    "EFFICIENCY_TARGETS",
    "QUALITY_TARGETS",
    "Reference",
    "cautious_check",
    "check_drop",
    "check_efficiency",
    "check_quality",
    "drop_detail",
    "measure_drop",
    "speed_targets_set",
    "validate_class_targets",
    "validate_requirements",
]


@dataclass(frozen=True)
class Reference:
    """PyTorch eager FP32, measured in the same run: what the ``min_*_speedup`` and
    ``min_size_reduction`` targets are ratios to."""

    profile: BackendProfile
    size_bytes: int


RELATIVE_TARGETS = ("min_latency_speedup", "min_throughput_speedup", "min_size_reduction")
# Speed and size: what a model's form decides, whatever its weights.
EFFICIENCY_TARGETS = ("max_latency_ms", "min_throughput", "max_size_mb", *RELATIVE_TARGETS)


def speed_targets_set(req: RequirementsConfig) -> bool:
    """True when any efficiency target (absolute or relative to PyTorch) is set."""
    return any(getattr(req, name) is not None for name in EFFICIENCY_TARGETS)


def drop_detail(req: RequirementsConfig, metric: str, split: str) -> str:
    """How a quality drop was measured: its metric, mode (``auto`` resolved) and split."""
    from zenopt.evaluate.paired import resolve_drop_mode

    return f"{metric}, {resolve_drop_mode(req.quality_drop_mode, metric)}, {split}"


def measure_drop(
    req: RequirementsConfig, baseline: dict[str, Any], candidate: dict[str, Any], metric: str
) -> float:
    """The quality lost on ``metric`` (0 when none), absolute or as a fraction of the
    baseline's value, as ``requirements.quality_drop_mode`` says (``auto``: relative for
    MSE/MAE, absolute otherwise)."""
    from zenopt.evaluate.paired import resolve_drop_mode
    from zenopt.evaluate.quality import quality_drop

    drop = quality_drop(baseline, candidate, metric)
    if resolve_drop_mode(req.quality_drop_mode, metric) == "relative":
        base = abs(float(baseline[metric]))
        return drop / base if base > 0 else (0.0 if drop == 0 else float("inf"))
    return drop


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
# per-class requirement field -> its key in the metrics' ``per_class`` entries
CLASS_TARGETS = {"min_class_recall": "recall", "min_class_precision": "precision"}


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
    relative = [name for name in RELATIVE_TARGETS if getattr(req, name) is not None]
    if relative and "torch" not in backends:
        raise ConfigError(
            f"requirements.{relative[0]} is a ratio to PyTorch eager FP32, which bench.backends "
            f"({', '.join(backends)}) does not measure; add torch to bench.backends"
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
    per_class = metrics.get("per_class", {})
    for field, key in CLASS_TARGETS.items():
        for label, target in getattr(req, field).items():
            found = per_class.get(label, {})
            # no row of the class in this split: its recall is not measurable, not 0
            measured = found.get(key) if found.get("support", 1) > 0 else None
            detail = split if measured is not None else f"{split}: no row of {label!r} in it"
            checks.append(
                _check(f"{field}[{label}]", "quality", target, measured, True, "", detail)
            )
    return checks


_BOOLEAN_WORDS = {"True": ("yes", "true", "on", "y"), "False": ("no", "false", "off", "n")}


def _unread_booleans(targets: dict[str, float], class_names: list[str], field: str) -> None:
    """YAML reads ``{yes: 0.9}`` as ``{True: 0.9}``: give the key back the class name it was
    written as (the one class named yes/true/on/y), or say to quote it."""
    for key, words in _BOOLEAN_WORDS.items():
        if key not in targets or key in class_names:
            continue
        named = [c for c in class_names if c.lower() in words]
        if len(named) != 1:
            raise ConfigError(
                f"requirements.{field}: YAML read a class name as {key.lower()}; quote it, "
                f'e.g. {{"{words[0]}": 0.9}}; classes: {", ".join(class_names)}'
            )
        targets[named[0]] = targets.pop(key)


def validate_class_targets(req: RequirementsConfig, task: str, class_names: list[str]) -> None:
    """Per-class targets name classes as the report shows them; anything else exits 2."""
    for field in CLASS_TARGETS:
        targets: dict[str, float] = getattr(req, field)
        _unread_booleans(targets, class_names, field)
        if targets and task == "regression":
            raise ConfigError(f"requirements.{field} is a classification target; remove it")
        unknown = [label for label in targets if label not in class_names]
        if unknown:
            raise ConfigError(
                f"requirements.{field}: {unknown[0]!r} is not a class of this data; "
                f"classes: {', '.join(class_names)}"
            )


def check_efficiency(
    req: RequirementsConfig,
    profile: BackendProfile,
    size_bytes: int,
    quality_drop: float,
    reference: Reference | None = None,
    drop_detail: str = "",
) -> list[RequirementCheck]:
    """Absolute targets against ``profile``/``size_bytes``; the ratios to PyTorch eager FP32
    against ``reference`` (a ratio target without one counts as not measured); the quality
    drop, measured as ``drop_detail`` says (its mode and split)."""
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
    checks += _relative(req, profile, size_bytes, reference)
    return checks + check_drop(req, quality_drop, drop_detail)


def cautious_check(
    name: str, target: float, figure: dict[str, Any], unit: str, detail: str
) -> RequirementCheck:
    """A requirement on a figure measured over rounds (``median``, ``low``, ``high``): met on
    the interval's cautious end, the lower one for a ``min_`` target (a speed-up, a
    throughput), the upper one for a ``max_`` target (a latency)."""
    higher = name.startswith("min_")
    end = figure["low"] if higher else figure["high"]
    met = end >= target if higher else end <= target
    side = "lower" if higher else "upper"
    return RequirementCheck(
        name,
        "efficiency",
        target,
        figure["median"],
        bool(met),
        unit,
        f"{detail}; judged on the {side} end, {end:.4g}",
        [figure["low"], figure["high"]],
        figure.get("noisy"),
    )


def check_drop(req: RequirementsConfig, drop: float, detail: str) -> list[RequirementCheck]:
    """``max_quality_drop`` against a measured drop (none when the target is unset)."""
    if req.max_quality_drop is None:
        return []
    return [_check("max_quality_drop", "efficiency", req.max_quality_drop, drop, False, "", detail)]


def _relative(
    req: RequirementsConfig, profile: BackendProfile, size_bytes: int, ref: Reference | None
) -> list[RequirementCheck]:
    checks = []
    if req.min_latency_speedup is not None:
        measured = None
        mine = profile.latency.get(req.latency_batch)
        theirs = ref.profile.latency.get(req.latency_batch) if ref else None
        if mine and theirs:
            p = req.latency_percentile
            measured = theirs.percentile(p) / mine.percentile(p)
        detail = f"p{req.latency_percentile} b{req.latency_batch} vs torch eager FP32"
        checks.append(
            _check(
                "min_latency_speedup",
                "efficiency",
                req.min_latency_speedup,
                measured,
                True,
                "×",
                detail,
            )
        )
    if req.min_throughput_speedup is not None:
        measured = None
        tp = profile.throughput.get(req.throughput_batch)
        ref_tp = ref.profile.throughput.get(req.throughput_batch) if ref else None
        if tp and ref_tp:
            measured = tp.samples_per_s / ref_tp.samples_per_s
        detail = f"b{req.throughput_batch} vs torch eager FP32"
        checks.append(
            _check(
                "min_throughput_speedup",
                "efficiency",
                req.min_throughput_speedup,
                measured,
                True,
                "×",
                detail,
            )
        )
    if req.min_size_reduction is not None:
        measured = ref.size_bytes / size_bytes if ref and size_bytes else None
        checks.append(
            _check(
                "min_size_reduction",
                "efficiency",
                req.min_size_reduction,
                measured,
                True,
                "×",
                "vs the PyTorch FP32 weights",
            )
        )
    return checks
