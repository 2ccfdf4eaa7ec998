"""Apply a compression plan to a trained model and measure the result side by side with the
baseline: PyTorch eager FP32 (the reference every ratio is against) and the FP32 ONNX export.

Used by ``zenopt compress RUN_DIR --plan …`` and by ``zenopt run`` when ``compress.plan`` is set.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zenopt.compress import CompressContext, CompressState, apply_plan, plan_label
from zenopt.compress.candidate import Measured, measure, save_candidate
from zenopt.core.compress_config import Step
from zenopt.core.config import RunConfig, load_config
from zenopt.core.errors import ConfigError, DataError
from zenopt.core.records import BackendProfile, RequirementCheck, json_default
from zenopt.core.rundir import RunDir, atomic_write_text, read_manifest
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.requirements import Reference, check_efficiency, check_quality, measure_drop
from zenopt.models import DeployableModel, ModelSpec, load_deployable
from zenopt.profile.machine import default_threads, fingerprint
from zenopt.report.progress import stage_progress
from zenopt.stages import DataStage, prepare_data
from zenopt.train import resolve_loss

__all__ = [
    "CompressResult",
    "apply_configured_plan",
    "candidate_checks",
    "compress_model",
    "compress_run",
    "make_context",
    "measure_baseline",
    "measure_on_test",
    "plan_folder",
    "ratios",
]


@dataclass(frozen=True)
class CompressResult:
    folder: Path
    record: dict[str, Any]


def plan_folder(label: str) -> str:
    """A folder name for a plan: its label with everything but letters, digits and dots as -."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", label).strip("-")[:96] or "plan"


def make_context(
    config: RunConfig, stage: DataStage, teacher: DeployableModel, workdir: Path
) -> CompressContext:
    splits = stage.prepared.splits
    workdir.mkdir(parents=True, exist_ok=True)
    return CompressContext(
        X_train=splits.train.X,
        y_train=splits.train.y,
        X_val=splits.val.X,
        y_val=splits.val.y,
        net_input=stage.prepared.model_input,
        loss=resolve_loss(config.train.loss, stage.dataset.task),
        train=config.train,
        seed=config.seed,
        teacher=teacher.eval(),
        workdir=workdir,
        cpu_flags=fingerprint()["cpu_flags"],
    )


def measure_baseline(
    model: DeployableModel,
    spec: ModelSpec,
    files: dict[str, Path],
    stage: DataStage,
    config: RunConfig,
    threads: int,
) -> dict[str, Measured]:
    """The trained FP32 model in PyTorch eager and in ONNX Runtime, measured like a candidate."""
    test = stage.prepared.splits.test
    out: dict[str, Measured] = {}
    for runtime in ("torch", "onnxruntime"):
        state = CompressState(model, spec, runtime=runtime)
        out[runtime] = measure(
            state,
            files,
            test.X,
            test.y,
            stage.dataset.task,
            config.bench,
            threads,
            _batches(config),
        )
    return out


def measure_on_test(
    state: CompressState, files: dict[str, Path], stage: DataStage, config: RunConfig
) -> Measured:
    """A candidate measured in its runtime on the test split, at the batches every candidate
    gets and those the requirements name."""
    test = stage.prepared.splits.test
    threads = state.threads or config.bench.threads or default_threads()
    task = stage.dataset.task
    return measure(state, files, test.X, test.y, task, config.bench, threads, _batches(config))


def _batches(config: RunConfig) -> tuple[int, int]:
    """The batches the requirements name: latency first (it gets the many timed calls)."""
    return (config.requirements.latency_batch, config.requirements.throughput_batch)


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


def compress_model(
    config: RunConfig,
    stage: DataStage,
    model: DeployableModel,
    spec: ModelSpec,
    steps: list[Step],
    folder: Path,
    baseline: dict[str, Measured],
    console: Console,
    quiet: bool = False,
    threads: int | None = None,
) -> CompressResult:
    """Apply ``steps`` to a copy of ``model``, save the candidate into ``folder``, measure it in
    its runtime and write ``candidate.json`` with its ratios to the ``baseline`` measurements."""
    label = plan_label(steps)
    splits = stage.prepared.splits
    tick = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zenopt-compress-") as work:
        ctx = make_context(config, stage, model, Path(work))
        with stage_progress(console, quiet, "compress") as progress:
            task = progress.add_task(label, total=len(steps))
            ctx.progress = lambda what, done, total: progress.update(
                task, description=f"{what} epoch {done}/{total}"
            )
            state = apply_plan(steps, model, spec, ctx, lambda _: progress.advance(task))
        seconds = time.perf_counter() - tick
        state.threads = state.threads or threads or config.bench.threads or default_threads()
        files = save_candidate(state, folder, splits.val.X)
    measured = measure_on_test(state, files, stage, config)
    metric, _ = primary_metric(stage.dataset.task)
    reference = baseline["torch"]
    record = {
        "plan": label,
        "steps": [step.model_dump(mode="json") for step in steps],
        "notes": state.notes,
        "runtime": state.runtime,
        "threads": state.threads,
        "seconds_to_apply": seconds,
        "files": {k: p.name for k, p in files.items()},
        **measured.to_dict(),
        "primary_metric": metric,
        "quality_drop": measure_drop(
            config.requirements, reference.quality, measured.quality, metric
        ),
        "vs_torch_fp32": ratios(measured, reference),
        "vs_onnxruntime_fp32": ratios(measured, baseline["onnxruntime"]),
        "baseline": {k: v.to_dict() for k, v in baseline.items()},
    }
    atomic_write_text(
        folder / "candidate.json", json.dumps(record, indent=2, default=json_default) + "\n"
    )
    return CompressResult(folder, record)


def compress_run(
    run_dir: Path,
    steps: list[Step],
    name: str | None,
    threads: int | None,
    console: Console,
    quiet: bool = False,
) -> tuple[CompressResult, list[RequirementCheck]]:
    """``zenopt compress``: the run's data and model again, the plan applied, both measured."""
    manifest = read_manifest(run_dir)
    if manifest.get("status") != "complete":
        raise ConfigError(f"{run_dir}: the run is not complete; finish it (zenopt run --resume)")
    config = load_config(run_dir / "config.yaml")
    stage = prepare_data(config)
    sizes = stage.prepared.splits.sizes()
    if sizes != manifest["data"]["splits"]:
        raise DataError(
            f"{run_dir}: the data in config.yaml now splits as {sizes}, not as the run did "
            f"({manifest['data']['splits']}); the data changed, so run zenopt run again"
        )
    model, spec = load_deployable(run_dir)
    files = {
        "spec": run_dir / "model.json",
        "safetensors": run_dir / "model.safetensors",
        "onnx": run_dir / "model.onnx",
    }
    n = threads or config.bench.threads or default_threads()
    with stage_progress(console, quiet, "baseline") as progress:
        task = progress.add_task("measuring torch and onnxruntime fp32", total=None)
        baseline = measure_baseline(model, spec, files, stage, config, n)
        progress.update(task, total=1, completed=1)
    folder = run_dir / "compressed" / (name or plan_folder(plan_label(steps)))
    result = compress_model(config, stage, model, spec, steps, folder, baseline, console, quiet, n)
    checks = candidate_checks(config, result.record)
    summary = {k: result.record[k] for k in ("plan", "runtime", "quality_drop", "vs_torch_fp32")}
    manifest.setdefault("compressed", {})[folder.name] = {
        **summary,
        "folder": str(folder.relative_to(run_dir)),
        "met": all(c.met for c in checks),
    }
    RunDir(run_dir).write_manifest(manifest)
    return result, checks


def candidate_checks(config: RunConfig, record: dict[str, Any]) -> list[RequirementCheck]:
    """The run's requirements against a candidate: its test quality, its speed in its own
    runtime, its size, and its quality drop against the PyTorch FP32 baseline."""
    profile = BackendProfile.from_dict(record["profile"])
    torch_fp32 = record["baseline"]["torch"]
    reference = Reference(BackendProfile.from_dict(torch_fp32["profile"]), torch_fp32["size_bytes"])
    checks = check_quality(config.requirements, record["quality"])
    return checks + check_efficiency(
        config.requirements, profile, record["size_bytes"], record["quality_drop"], reference
    )


def apply_configured_plan(
    config: RunConfig,
    stage: DataStage,
    model: DeployableModel,
    spec: ModelSpec,
    artifacts: dict[str, Path],
    run_dir: Path,
    console: Console,
    quiet: bool,
    threads: int,
) -> tuple[dict[str, Any], list[RequirementCheck]]:
    """``zenopt run`` with ``compress.plan``: the candidate in ``<run>/compressed/<plan>/``,
    measured next to the FP32 baselines, and the run's requirements checked on it."""
    plan = list(config.compress.plan)
    baseline = measure_baseline(model, spec, artifacts, stage, config, threads)
    folder = run_dir / "compressed" / plan_folder(plan_label(plan))
    result = compress_model(
        config, stage, model, spec, plan, folder, baseline, console, quiet, threads
    )
    record = {**result.record, "folder": str(folder.relative_to(run_dir))}
    return record, candidate_checks(config, record)
