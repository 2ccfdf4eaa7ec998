"""The acceptance rule with constructed candidates: a candidate slower than the baseline, as
fast within noise, or over the quality budget is rejected, and each reason is named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from zenopt.compress.acceptance import Interval, SpeedComparison, interval, judge


def _lat(cand: tuple[float, float, float], base: tuple[float, float, float]) -> SpeedComparison:
    return SpeedComparison("b1 latency, ms", Interval(*cand), Interval(*base), False)


def _tp(cand: tuple[float, float, float], base: tuple[float, float, float]) -> SpeedComparison:
    return SpeedComparison("b256 throughput", Interval(*cand), Interval(*base), True)


BASE_LAT = (0.20, 0.22, 0.24)
BASE_TP = (5000.0, 6000.0, 7000.0)


def test_a_faster_candidate_within_budget_is_accepted() -> None:
    verdict = judge(
        0.002, 0.005, [_lat((0.05, 0.06, 0.07), BASE_LAT), _tp((9e3, 1e4, 1.1e4), BASE_TP)]
    )
    assert verdict.accepted and verdict.reasons == []


def test_over_the_quality_budget_is_rejected() -> None:
    verdict = judge(0.0084, 0.005, [_lat((0.05, 0.06, 0.07), BASE_LAT)])
    assert not verdict.accepted
    assert verdict.reasons == [
        "quality drop 0.0084 on the validation split exceeds the budget 0.005"
    ]
    assert judge(0.005, 0.005, [_lat((0.05, 0.06, 0.07), BASE_LAT)]).accepted  # the bound is in


def test_a_slower_candidate_is_rejected_an_int8_slower_than_fp32() -> None:
    # dynamic INT8 of a whole CNN: 0.84 ms against FP32's 0.22 ms at batch 1
    verdict = judge(
        0.0, 0.005, [_lat((0.80, 0.84, 0.88), BASE_LAT), _tp((1e3, 1.1e3, 1.2e3), BASE_TP)]
    )
    assert not verdict.accepted
    assert len(verdict.reasons) == 2
    assert verdict.reasons[0].startswith("b1 latency, ms: 0.84 (0.8–0.88) is not faster")


def test_faster_on_average_but_within_noise_is_rejected() -> None:
    overlapping = _lat((0.15, 0.19, 0.23), BASE_LAT)  # mean faster, intervals overlap
    assert overlapping.ratio > 1
    assert not overlapping.faster
    assert not judge(0.0, 0.005, [overlapping]).accepted


def test_faster_at_one_batch_only_is_rejected() -> None:
    speeds = [_lat((0.05, 0.06, 0.07), BASE_LAT), _tp((5500.0, 6000.0, 6500.0), BASE_TP)]
    verdict = judge(0.0, 0.005, speeds)
    assert not verdict.accepted and "b256 throughput" in verdict.reasons[0]


def test_no_speed_measured_is_never_accepted() -> None:
    assert not judge(0.0, 0.005, []).accepted


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_interval_is_students_t_of_the_mean(confidence: float) -> None:
    samples = [0.21, 0.23, 0.22, 0.25, 0.2]
    got = interval(samples, confidence)
    ref = stats.t.interval(
        confidence, len(samples) - 1, loc=np.mean(samples), scale=stats.sem(samples)
    )
    assert got.mean == pytest.approx(np.mean(samples))
    assert (got.low, got.high) == pytest.approx(ref)
    with pytest.raises(ValueError, match="at least two"):
        interval([1.0])


def test_search_constraints_are_relative_misses_feasible_at_or_below_zero() -> None:
    from zenopt.compress.acceptance import relative_miss, search_constraints
    from zenopt.core.records import RequirementCheck

    checks = [
        RequirementCheck("min_latency_speedup", "efficiency", 10.0, 8.0, False, "×", ""),
        RequirementCheck("max_size_mb", "efficiency", 1.0, 0.5, True, "MB", ""),
        RequirementCheck("min_accuracy", "quality", 0.97, None, False, "", ""),
    ]
    speeds = [_lat((0.05, 0.06, 0.07), BASE_LAT), _tp((5500.0, 6000.0, 6500.0), BASE_TP)]
    got = search_constraints(checks, speeds, drop=0.0075, budget=0.005)
    assert got["min_latency_speedup"] == pytest.approx(0.2)  # 20% short of 10×
    assert got["max_size_mb"] == pytest.approx(-0.5)  # met with room
    assert got["min_accuracy"] == 1.0  # not measured: infeasible
    assert got["quality_drop"] == pytest.approx(0.5)
    assert got["faster: b1 latency, ms"] == pytest.approx((0.07 - 0.20) / 0.20)  # clears it
    assert got["faster: b256 throughput"] == pytest.approx((7000 - 5500) / 7000)  # overlaps
    assert relative_miss(0.97, 0.98, higher=True) < 0 < relative_miss(0.97, 0.96, higher=True)
