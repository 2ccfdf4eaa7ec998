"""A compressed model as the flow judges it: measured in its runtime on the validation split
(the selection split) next to the FP32 baselines, its quality drop a paired comparison with
the trained model on the same rows, recorded (one builder for ``zenopt compress``,
``compress.plan`` and every search trial) and checked against the run's requirements.

The test split confirms a candidate once it is chosen (``zenopt.flow.confirm``); nothing here
reads it.
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
from zenopt.evaluate.paired import paired_drop, resolve_drop_mode
from zenopt.evaluate.requirements import Reference, check_efficiency, check_quality, drop_detail
from zenopt.flow.context import Baseline, RunContext
from zenopt.models.onnx_file import stored_graph
from zenopt.profile.machine import machine_summary

__all__ = [
    "candidate_checks",
    "candidate_record",
    "fidelity_checks",
    "measure_baseline",
    "measure_candidate",
    "ratios",
    "torch_reference",
]


def _batches(config: RunConfig) -> tuple[int, int]:
    """The batches the requirements name: latency first (it gets the many timed calls)."""
    return (config.requirements.latency_batch, config.requirements.throughput_batch)


def measure_baseline(ctx: RunContext, baseline: Baseline) -> dict[str, Measured]:
    """The trained FP32 model in PyTorch eager and in ONNX Runtime, measured like a candidate
    (at the run's inference thread count) on the validation split. A model kept as its ONNX
    graph has no PyTorch form: its reference ("torch") is the graph in ONNX Runtime."""
    out: dict[str, Measured] = {}
    graph_only = stored_graph(baseline.model) is not None
    for runtime in ("onnxruntime",) if graph_only else ("torch", "onnxruntime"):
        state = CompressState(baseline.model, baseline.spec, runtime=runtime)
        out[runtime] = _measure(ctx, state, baseline.files, ctx.threads)
    return {"torch": out["onnxruntime"], **out} if graph_only else out


def measure_candidate(ctx: RunContext, state: CompressState, files: dict[str, Path]) -> Measured:
    """A candidate measured in its runtime on the validation split, at the batches every
    candidate gets and those the requirements name."""
    return _measure(ctx, state, files, state.threads or ctx.threads)


def _measure(
    ctx: RunContext, state: CompressState, files: dict[str, Path], threads: int
) -> Measured:
    val = ctx.splits.val
    return measure(
        state, files, val.X, val.y, ctx.task, ctx.config.bench, threads, _batches(ctx.config)
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
    """What every candidate records: its plan and what each step did, its files, its quality
    on the validation split with the paired drop against PyTorch eager FP32, its speed in its
    runtime, and its ratios to the FP32 ``baseline`` measurements."""
    measured = measure_candidate(ctx, state, files)
    metric, _ = primary_metric(ctx.task)
    mode = resolve_drop_mode(ctx.config.requirements.quality_drop_mode, metric)
    reference = baseline["torch"]
    assert reference.outputs is not None and measured.outputs is not None  # measure() sets them
    drop = paired_drop(
        ctx.splits.val.y, reference.outputs, measured.outputs, state.spec.head, metric, mode
    )
    kept = ("profile", "size_bytes", "compressed_bytes", "params", "flops", "sparsity")
    return {
        "plan": plan_label(steps),
        "steps": [step.model_dump(mode="json") for step in steps],
        "notes": state.notes,
        "runtime": state.runtime or "onnxruntime",
        "threads": state.threads,
        "onnx_only": state.onnx is not None,  # no PyTorch form computes what it deploys
        "files": {k: p.name for k, p in files.items()},
        **{key: getattr(measured, key) for key in kept},
        "primary_metric": metric,
        "validation": measured.quality,
        "quality_drop": drop["drop"],
        "drop": {"validation": drop},
        "vs_torch_fp32": ratios(measured, reference),
        "vs_onnxruntime_fp32": ratios(measured, baseline["onnxruntime"]),
        "baseline": {k: v.to_dict() for k, v in baseline.items()},
        "machine": machine_summary(),  # where every figure here was measured
    }


def candidate_checks(
    config: RunConfig, record: dict[str, Any], split: str = "validation"
) -> list[RequirementCheck]:
    """The run's requirements against a candidate: its quality and its quality drop against
    the PyTorch FP32 baseline on ``split`` (``validation`` while selecting, ``test`` once
    confirmed), its speed in its own runtime and its size."""
    profile = BackendProfile.from_dict(record["profile"])
    reference = torch_reference(record["baseline"]["torch"])
    drop = record["drop"][split]
    checks = check_quality(config.requirements, record[split], f"{split} split")
    detail = drop_detail(config.requirements, drop["metric"], f"{split} split")
    return (
        checks
        + check_efficiency(
            config.requirements, profile, record["size_bytes"], drop["drop"], reference, detail
        )
        + fidelity_checks(config, record)
    )


def fidelity_checks(config: RunConfig, record: dict[str, Any]) -> list[RequirementCheck]:
    """The candidate against the FP32 form it came from: ``compress.min_agreement``."""
    checked = record.get("fidelity")
    if not checked:
        return []
    least = config.compress.min_agreement
    detail = f"top-1 agreement with {checked['against']}, {checked['rows']} validation rows"
    met = checked["agreement"] >= least
    return [
        RequirementCheck("min_agreement", "fidelity", least, checked["agreement"], met, "", detail)
    ]
