"""A compressed model as the flow judges it: measured in its runtime on the test split next to
the FP32 baselines, recorded (one builder for ``zenopt compress``, ``compress.plan`` and every
search trial) and checked against the run's requirements.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zenopt.compress import CompressState, plan_label
from zenopt.compress.candidate import Measured, measure
from zenopt.core.compress_config import Step
from zenopt.core.config import RunConfig
from zenopt.core.records import BackendProfile, RequirementCheck
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.requirements import Reference, check_efficiency, check_quality, measure_drop
from zenopt.flow.context import Baseline, RunContext

__all__ = [
    "candidate_checks",
    "candidate_record",
    "measure_baseline",
    "measure_on_test",
    "ratios",
    "torch_reference",
]


def _batches(config: RunConfig) -> tuple[int, int]:
    """The batches the requirements name: latency first (it gets the many timed calls)."""
    return (config.requirements.latency_batch, config.requirements.throughput_batch)


def measure_baseline(ctx: RunContext, baseline: Baseline) -> dict[str, Measured]:
    """The trained FP32 model in PyTorch eager and in ONNX Runtime, measured like a candidate
    (at the run's inference thread count)."""
    out: dict[str, Measured] = {}
    for runtime in ("torch", "onnxruntime"):
        state = CompressState(baseline.model, baseline.spec, runtime=runtime)
        out[runtime] = _measure(ctx, state, baseline.files, ctx.threads)
    return out


def measure_on_test(ctx: RunContext, state: CompressState, files: dict[str, Path]) -> Measured:
    """A candidate measured in its runtime on the test split, at the batches every candidate
    gets and those the requirements name."""
    return _measure(ctx, state, files, state.threads or ctx.threads)


def _measure(
    ctx: RunContext, state: CompressState, files: dict[str, Path], threads: int
) -> Measured:
    test = ctx.splits.test
    return measure(
        state, files, test.X, test.y, ctx.task, ctx.config.bench, threads, _batches(ctx.config)
    )


def ratios(candidate: Measured, reference: Measured) -> dict[str, float]:
    """How many times faster/smaller the candidate is than the reference."""
    lat_c, lat_r = candidate.profile["latency_ms"], reference.profile["latency_ms"]
    thr_c, thr_r = candidate.profile["throughput"], reference.profile["throughput"]
    return {
        "latency_b1_p50": lat_r["b1"]["p50"] / lat_c["b1"]["p50"],
        "latency_b1_p95": lat_r["b1"]["p95"] / lat_c["b1"]["p95"],
        "throughput_b64": thr_c["b64"] / thr_r["b64"],
        "throughput_b256": thr_c["b256"] / thr_r["b256"],
        "size": reference.size_bytes / candidate.size_bytes,
    }


def torch_reference(measured: Mapping[str, Any]) -> Reference:
    """PyTorch eager FP32, the reference of every ``min_*_speedup`` and ``min_size_reduction``
    target, from its measurement: ``profile`` (a record or its dict) and ``size_bytes``."""
    profile = measured["profile"]
    if not isinstance(profile, BackendProfile):
        profile = BackendProfile.from_dict(profile)
    return Reference(profile, int(measured["size_bytes"]))


def candidate_record(
    ctx: RunContext,
    state: CompressState,
    files: dict[str, Path],
    steps: list[Step],
    baseline: dict[str, Measured],
) -> dict[str, Any]:
    """What every candidate records: its plan and what each step did, its files, its test
    quality and speed in its runtime, and its ratios to the FP32 ``baseline`` measurements
    (the quality drop against PyTorch eager FP32)."""
    measured = measure_on_test(ctx, state, files)
    metric, _ = primary_metric(ctx.task)
    reference = baseline["torch"]
    return {
        "plan": plan_label(steps),
        "steps": [step.model_dump(mode="json") for step in steps],
        "notes": state.notes,
        "runtime": state.runtime or "onnxruntime",
        "threads": state.threads,
        "files": {k: p.name for k, p in files.items()},
        **measured.to_dict(),
        "primary_metric": metric,
        "quality_drop": measure_drop(
            ctx.config.requirements, reference.quality, measured.quality, metric
        ),
        "vs_torch_fp32": ratios(measured, reference),
        "vs_onnxruntime_fp32": ratios(measured, baseline["onnxruntime"]),
        "baseline": {k: v.to_dict() for k, v in baseline.items()},
    }


def candidate_checks(config: RunConfig, record: dict[str, Any]) -> list[RequirementCheck]:
    """The run's requirements against a candidate: its test quality, its speed in its own
    runtime, its size, and its quality drop against the PyTorch FP32 baseline."""
    profile = BackendProfile.from_dict(record["profile"])
    reference = torch_reference(record["baseline"]["torch"])
    checks = check_quality(config.requirements, record["quality"])
    return checks + check_efficiency(
        config.requirements, profile, record["size_bytes"], record["quality_drop"], reference
    )
