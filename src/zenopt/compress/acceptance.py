"""The acceptance rule of the efficiency search.

A candidate is accepted only if (a) its quality drop on the validation split (the selection
split, which no candidate was fine-tuned, calibrated or stopped on) is within the budget and
(b) it is faster than the FP32 baseline beyond measurement noise: on every speed measure
compared, the candidate's confidence interval lies wholly on the faster side of the
baseline's. Intervals come from repeated timing rounds (round medians, Student's t), so a
model that is only as fast as the baseline, an INT8 model slower than FP32 included, is never
accepted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zenopt.core.records import RequirementCheck

__all__ = [
    "Acceptance",
    "Interval",
    "SpeedComparison",
    "interval",
    "judge",
    "relative_miss",
    "search_constraints",
]


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided confidence interval."""

    low: float
    mean: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "mean": self.mean, "high": self.high}


def interval(samples: Sequence[float], confidence: float = 0.95) -> Interval:
    """Student's t interval of the mean of ``samples`` (at least two)."""
    from scipy import stats

    values = np.asarray(samples, dtype=np.float64)
    if values.size < 2:
        raise ValueError("an interval needs at least two samples")
    mean = float(values.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * float(
        values.std(ddof=1) / math.sqrt(values.size)
    )
    return Interval(mean - half, mean, mean + half)


@dataclass(frozen=True)
class SpeedComparison:
    """One speed measure of the candidate and the baseline, timed in alternating rounds."""

    name: str  # e.g. "latency b1 (ms)"
    candidate: Interval
    baseline: Interval
    higher_is_better: bool

    @property
    def faster(self) -> bool:
        """The candidate is faster beyond noise: the two intervals do not overlap."""
        if self.higher_is_better:
            return self.candidate.low > self.baseline.high
        return self.candidate.high < self.baseline.low

    @property
    def ratio(self) -> float:
        """How many times faster the candidate is (mean over mean; > 1 is faster)."""
        c, b = self.candidate.mean, self.baseline.mean
        return c / b if self.higher_is_better else b / c

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "candidate": self.candidate.to_dict(),
            "baseline": self.baseline.to_dict(),
            "higher_is_better": self.higher_is_better,
            "faster": self.faster,
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class Acceptance:
    accepted: bool
    reasons: list[str] = field(default_factory=list)  # why not, one line each

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "reasons": list(self.reasons)}


def _show(value: Interval) -> str:
    return f"{value.mean:.4g} ({value.low:.4g}–{value.high:.4g})"


def judge(drop: float, budget: float, speeds: Sequence[SpeedComparison]) -> Acceptance:
    """Accept or reject a candidate; ``drop`` (on the validation split) and ``budget`` in the
    same units. The point estimate is compared: the paired interval beside it is reported."""
    reasons = []
    if not drop <= budget:
        reasons.append(
            f"quality drop {drop:.4g} on the validation split exceeds the budget {budget:.4g}"
        )
    if not speeds:
        reasons.append("no speed measured against the baseline")
    for speed in speeds:
        if not speed.faster:
            reasons.append(
                f"{speed.name}: {_show(speed.candidate)} is not faster than the baseline's "
                f"{_show(speed.baseline)} beyond noise"
            )
    return Acceptance(not reasons, reasons)


def relative_miss(target: float, measured: float | None, higher: bool) -> float:
    """How far ``measured`` falls short of ``target``, relative to it: <= 0 when met."""
    if measured is None:
        return 1.0
    scale = abs(target) or 1.0
    return (target - measured) / scale if higher else (measured - target) / scale


def search_constraints(
    checks: Sequence[RequirementCheck],
    speeds: Sequence[SpeedComparison],
    drop: float | None,
    budget: float,
) -> dict[str, float]:
    """The constraint values a constrained sampler steers by (feasible when all are <= 0):
    each requirement's relative miss, the quality drop over its budget, and for each speed
    compared how far the candidate's interval is from clearing the baseline's. Callers pass
    validation quality here: the search never sees the test split."""
    out = {c.name: relative_miss(c.target, c.measured, c.name.startswith("min_")) for c in checks}
    if drop is not None:
        out["quality_drop"] = (drop - budget) / max(budget, 1e-3)
    for speed in speeds:
        c, b = speed.candidate, speed.baseline
        gap = (b.high - c.low) / b.high if speed.higher_is_better else (c.high - b.low) / b.low
        out[f"faster: {speed.name}"] = gap
    return out
