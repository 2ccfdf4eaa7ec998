"""The speed check before training: a plan whose untrained form misses a speed or size target
by more than the margin is rejected; within the margin it goes on to be trained."""

from __future__ import annotations

from zenopt.core.config import load_config
from zenopt.core.records import BackendProfile, LatencyStats, ThroughputStats
from zenopt.evaluate.requirements import Reference
from zenopt.flow.efficiency.precheck import precheck_misses


def _profile(p95: float, throughput: float) -> BackendProfile:
    stats = LatencyStats(1, 1, 60, 2, p95, p95, p95, p95, p95, 0.0, p95, p95)
    return BackendProfile(
        "onnxruntime",
        2,
        1.0,
        {1: stats},
        {256: ThroughputStats(256, 1, 5, 2, throughput, throughput, throughput)},
        1.0,
    )


TORCH = Reference(_profile(p95=1.0, throughput=1000.0), size_bytes=4_800_000)
CONFIG = load_config(
    None,
    [
        "requirements.min_latency_speedup=10",
        "requirements.min_throughput_speedup=15",
        "requirements.throughput_batch=256",
        "requirements.max_size_mb=1",
        "requirements.max_quality_drop=0.005",
    ],
)


def test_a_plan_far_from_the_targets_is_rejected_with_each_miss_named() -> None:
    misses = precheck_misses(CONFIG, _profile(0.25, 4000.0), 4_800_000, TORCH, 0.1)
    names = [m.split(":")[0] for m in misses]
    assert names == ["max_size_mb", "min_latency_speedup", "min_throughput_speedup"]
    assert misses[1] == "min_latency_speedup: 4× before training (target 10×, margin 10%)"


def test_within_the_margin_the_plan_goes_on_to_training() -> None:
    # 9.2× and 14× are within 10% of 10× and 15×; 1.05 MB within 10% of 1 MB.
    assert precheck_misses(CONFIG, _profile(1 / 9.2, 14_000.0), 1_050_000, TORCH, 0.1) == []
    assert precheck_misses(CONFIG, _profile(1 / 9.2, 14_000.0), 1_050_000, TORCH, 0.0) != []


def test_quality_is_never_judged_before_training() -> None:
    only_quality = load_config(None, ["requirements.max_quality_drop=0.0"])
    assert precheck_misses(only_quality, _profile(5.0, 1.0), 10**9, TORCH, 0.0) == []
