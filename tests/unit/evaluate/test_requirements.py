from __future__ import annotations

import pytest

from zenopt.core.config import RequirementsConfig
from zenopt.core.errors import ConfigError
from zenopt.core.records import BackendProfile, LatencyStats, ThroughputStats
from zenopt.evaluate.requirements import check_efficiency, check_quality, validate_requirements


def _profile(p95: float, throughput: float) -> BackendProfile:
    stats = LatencyStats(1, 1, 10, 2, 1.0, 1.5, p95, 9.0, 1.2, 0.1, 0.9, 9.5)
    return BackendProfile(
        "onnxruntime",
        2,
        1.0,
        {1: stats},
        {64: ThroughputStats(64, 1, 5, 2, throughput, throughput, throughput)},
        1.0,
    )


def test_quality_checks_compare_in_the_right_direction() -> None:
    req = RequirementsConfig(min_accuracy=0.9, min_f1=0.95)
    checks = check_quality(req, {"accuracy": 0.92, "f1_macro": 0.94})
    assert [(c.name, c.met, c.measured) for c in checks] == [
        ("min_accuracy", True, 0.92),
        ("min_f1", False, 0.94),
    ]
    reg = check_quality(RequirementsConfig(max_mse=10.0), {"mse": 10.0})
    assert reg[0].met  # the bound itself is allowed


def test_efficiency_checks_use_the_requested_percentile_and_batch() -> None:
    req = RequirementsConfig(
        max_latency_ms=4.0,
        latency_percentile=95,
        min_throughput=500,
        max_size_mb=1.0,
        max_quality_drop=0.01,
    )
    checks = {c.name: c for c in check_efficiency(req, _profile(3.0, 400.0), 2_000_000, 0.0)}
    assert checks["max_latency_ms"].measured == 3.0 and checks["max_latency_ms"].met
    assert checks["min_throughput"].measured == 400.0 and not checks["min_throughput"].met
    assert checks["max_size_mb"].measured == 2.0 and not checks["max_size_mb"].met
    assert checks["max_quality_drop"].met
    req99 = RequirementsConfig(max_latency_ms=4.0, latency_percentile=99)
    assert not check_efficiency(req99, _profile(3.0, 1.0), 1, 0.0)[0].met


def test_unmeasured_batch_counts_as_missed() -> None:
    req = RequirementsConfig(max_latency_ms=4.0, latency_batch=8)
    check = check_efficiency(req, _profile(1.0, 1.0), 1, 0.0)[0]
    assert check.measured is None and not check.met


def test_targets_of_the_wrong_task_are_rejected() -> None:
    with pytest.raises(ConfigError, match="requirements.max_mse is a regression target"):
        validate_requirements(RequirementsConfig(max_mse=1.0), "binary", ["onnxruntime"])
    with pytest.raises(ConfigError, match="requirements.min_accuracy is a classification target"):
        validate_requirements(RequirementsConfig(min_accuracy=0.5), "regression", ["onnxruntime"])
    with pytest.raises(ConfigError, match="not among bench.backends"):
        validate_requirements(RequirementsConfig(), "binary", ["torch"])


def test_ratio_targets_compare_with_pytorch_eager_fp32() -> None:
    from zenopt.evaluate.requirements import Reference

    req = RequirementsConfig(
        min_latency_speedup=10, min_throughput_speedup=15, min_size_reduction=8
    )
    torch_fp32 = Reference(_profile(p95=5.0, throughput=100.0), size_bytes=4_800_000)
    checks = {
        c.name: c for c in check_efficiency(req, _profile(0.4, 1400.0), 500_000, 0.0, torch_fp32)
    }
    assert checks["min_latency_speedup"].measured == pytest.approx(12.5)
    assert checks["min_latency_speedup"].met
    assert checks["min_throughput_speedup"].measured == pytest.approx(14.0)
    assert not checks["min_throughput_speedup"].met
    assert checks["min_size_reduction"].measured == pytest.approx(9.6)
    assert checks["min_size_reduction"].met
    # Without the PyTorch measurement a ratio cannot be known: missed, not guessed.
    blind = check_efficiency(req, _profile(0.4, 1400.0), 500_000, 0.0)
    assert all(c.measured is None and not c.met for c in blind)


def test_ratio_targets_need_torch_among_the_backends() -> None:
    with pytest.raises(ConfigError, match="add torch to bench.backends"):
        validate_requirements(
            RequirementsConfig(min_size_reduction=4), "multiclass", ["onnxruntime"]
        )


def test_relative_quality_drop_is_a_fraction_of_the_baseline() -> None:
    from zenopt.evaluate.requirements import measure_drop

    base, cand = {"accuracy": 0.8}, {"accuracy": 0.76}
    absolute = measure_drop(RequirementsConfig(), base, cand, "accuracy")
    relative = measure_drop(
        RequirementsConfig(quality_drop_mode="relative"), base, cand, "accuracy"
    )
    assert absolute == pytest.approx(0.04)
    assert relative == pytest.approx(0.05)
    assert measure_drop(RequirementsConfig(), base, {"accuracy": 0.9}, "accuracy") == 0.0
    mse = measure_drop(
        RequirementsConfig(quality_drop_mode="relative"), {"mse": 2.0}, {"mse": 2.5}, "mse"
    )
    assert mse == pytest.approx(0.25)
