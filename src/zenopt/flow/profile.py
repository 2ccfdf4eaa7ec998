"""The profile box: every configured backend timed on real rows of the validation split
(latency at batch 1 and the latency batch, throughput at every batch), and its validation
quality measured; the FP32 model's parameters, FLOPs and file sizes. The test split is not
read here: it confirms the deployed model once, after every choice."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zenopt.core.records import BackendProfile
from zenopt.evaluate.quality import evaluate_outputs
from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.profile import count_flops, count_params, file_sizes
from zenopt.profile.latency import profile_backend
from zenopt.profile.noise import LoadReading, NoiseLimits, SystemProbe
from zenopt.report.progress import stage_progress
from zenopt.runtime.predictor import predict_with_backend

__all__ = ["Profiled", "profile_stage"]


@dataclass(frozen=True)
class Profiled:
    """Each backend's profile and validation quality, and the exported files' sizes in bytes."""

    profiles: dict[str, BackendProfile]
    quality: dict[str, Any]
    sizes: dict[str, int]


def _backend_files(baseline: Baseline) -> dict[str, Path]:
    files = baseline.files
    return {"torch": files["spec"], "torch_compile": files["spec"], "onnxruntime": files["onnx"]}


def _profile(ctx: RunContext, backend: str, path: Path) -> BackendProfile:
    bench, req = ctx.config.bench, ctx.config.requirements
    batches = sorted(set(bench.batch_sizes) | {req.latency_batch, req.throughput_batch})
    return profile_backend(
        backend,
        path,
        ctx.splits.val.X,
        batches,
        bench.warmup,
        bench.repeats,
        bench.throughput_repeats,
        ctx.threads,
        frozenset({1, req.latency_batch}),
    )


def _load(reading: LoadReading, limits: NoiseLimits) -> dict[str, Any]:
    """How busy the machine was elsewhere while a runtime was profiled, and whether that
    makes its figures noisy."""
    busy = reading.busy_elsewhere
    noisy = f"{busy:.1f} cores busy elsewhere" if busy > limits.busy_cores else None
    return {"busy_elsewhere": busy, "seconds": reading.seconds, "noisy": noisy}


def _val_quality(ctx: RunContext, baseline: Baseline, backend: str) -> dict[str, Any]:
    val, spec = ctx.splits.val, baseline.spec
    outputs = predict_with_backend(backend, _backend_files(baseline)[backend], val.X, ctx.threads)
    return evaluate_outputs(outputs, val.y, spec.head, ctx.task, ctx.data.dataset.class_names)


def profile_stage(ctx: RunContext, baseline: Baseline, record: RunRecord) -> Profiled:
    """Profile and evaluate every backend of ``bench.backends``, with a progress bar."""
    profiles: dict[str, BackendProfile] = {}
    quality: dict[str, Any] = {}
    backends = ctx.config.bench.backends
    probe, limits = SystemProbe(), NoiseLimits.from_bench(ctx.config.bench)
    load: dict[str, dict[str, Any]] = {}
    with record.timed("profile_s"), stage_progress(ctx.console, ctx.quiet, "profile") as progress:
        task_id = progress.add_task("", total=len(backends))
        for backend in backends:
            progress.update(task_id, description=backend)
            probe.mark()
            profiles[backend] = _profile(ctx, backend, _backend_files(baseline)[backend])
            load[backend] = _load(probe.read(), limits)
            quality[backend] = _val_quality(ctx, baseline, backend)
            progress.advance(task_id)
    sizes = file_sizes(baseline.files)
    record.manifest["profile"] = {
        name: {**p.to_dict(), "load": load[name]} for name, p in profiles.items()
    }
    record.manifest["quality"]["by_backend"] = quality
    record.manifest["cost"] = {
        "params": count_params(baseline.model.net),
        "flops": count_flops(baseline.model, baseline.spec.input_shape),
        "size_bytes": sizes,
    }
    return Profiled(profiles, quality, sizes)
