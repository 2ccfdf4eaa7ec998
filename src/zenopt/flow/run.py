"""The flow, and nothing else: data → train → evaluate → quality met? → export → profile →
efficiency met? → confirm on the test split → artifacts + report → analysis.

Each box lives in its own module of this package; this one runs them in order with one
:class:`RunContext`, and writes what each measured into the run's manifest as it goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError, first_line
from zenopt.core.records import RequirementCheck
from zenopt.core.rundir import RunDir
from zenopt.flow.analysis import run_analysis
from zenopt.flow.confirm import confirm_stage
from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.flow.data import prepare_data
from zenopt.flow.efficiency.stage import efficiency_stage, judge_baseline
from zenopt.flow.export import export_stage
from zenopt.flow.graph_only import graph_only_defaults
from zenopt.flow.keras_train import keras_gap
from zenopt.flow.manifest import now, start_manifest, to_yaml
from zenopt.flow.profile import profile_stage
from zenopt.flow.quality import quality_stage
from zenopt.flow.serve import serve_stage
from zenopt.flow.train import build, train_baseline
from zenopt.flow.tune import preflight
from zenopt.models import ModelSpec
from zenopt.models.keras_job import is_keras_factory
from zenopt.models.onnx_source import is_onnx, source_defaults
from zenopt.profile.hostlock import configure_host_lock, host_lock_stats
from zenopt.profile.instructions import valgrind_note
from zenopt.profile.machine import inference_threads
from zenopt.profile.trace import collector_note, configure_trace, span
from zenopt.runtime.predictor import backend_names
from zenopt.train.losses import HEAD_LOSS

__all__ = ["RunOptions", "RunOutcome", "run_pipeline"]


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    manifest: dict[str, Any]
    exit_code: int


@dataclass(frozen=True)
class RunOptions:
    """How a run treats its folder: ``overwrite`` a used one; ``resume`` an interrupted run of
    this config in it (its study is continued: the trials it finished are kept, everything
    else is redone, deterministically); the ``command`` line recorded in the manifest."""

    overwrite: bool = False
    resume: bool = False
    command: list[str] = field(default_factory=list)


def run_pipeline(
    config: RunConfig,
    out: Path,
    *,
    console: Console | None = None,
    quiet: bool = False,
    options: RunOptions | None = None,
) -> RunOutcome:
    """Run the whole flow into ``out`` and return the manifest and the exit code (0 or 1)."""
    options = options or RunOptions()
    unknown = [b for b in config.bench.backends if b not in backend_names()]
    if unknown:
        raise ConfigError(
            f"bench.backends: {unknown[0]!r} is unknown; choose from {', '.join(backend_names())}"
        )
    configure_host_lock(config.bench.host_lock)  # one timing at a time on this host
    configure_trace(config.trace)
    with span("run"):
        return _pipeline(config, out, console or Console(stderr=True), quiet, options)


def _pipeline(
    config: RunConfig, out: Path, console: Console, quiet: bool, options: RunOptions
) -> RunOutcome:
    notes = [n for n in (collector_note(config.trace), valgrind_note(config)) if n]
    config = source_defaults(config)  # a model that arrives trained keeps its input space
    # 1. Data: load, check, split, summarise. All of it fails before anything is written.
    tick = time.perf_counter()
    with span("data"):
        stage = prepare_data(config)
    timings = {"data_s": time.perf_counter() - tick}
    # A model without a PyTorch form gets graph techniques only (a Keras factory's model is
    # built in Keras once, on the data's shape, to find out).
    gap = keras_gap(config, stage.dataset, stage.prepared)
    config = graph_only_defaults(config, gap)
    net, spec = build(config, stage.dataset, stage.prepared)
    if is_onnx(config.model.name) or is_keras_factory(config.model.name):
        # A model that arrives trained (its outputs) or a Keras one decides its loss, which
        # every later fine-tuning (pruning, QAT, distillation) then uses.
        config.train.loss = HEAD_LOSS[spec.head]  # type: ignore[assignment]
    preflight(config, stage)
    run = RunDir(out) if options.resume else RunDir(out).create(overwrite=options.overwrite)
    threads = inference_threads(config.bench.threads)
    ctx = RunContext(config, stage, run.path, console, quiet, threads, options.resume)
    for note in [*notes, *stage.warnings]:
        ctx.warn(note)
    record = RunRecord(run, start_manifest(ctx, options.command), timings)
    run.write_text("config.yaml", to_yaml(config.to_dict()))
    record.save()
    try:
        return _run_stages(ctx, record, net, spec)
    except BaseException:
        if record.manifest["status"] != "complete":  # the analysis loses only itself
            record.manifest["status"] = "failed"
            record.manifest["finished_at"] = now()
            record.save()
        raise


def _run_stages(
    ctx: RunContext, record: RunRecord, net: torch.nn.Module, spec: ModelSpec
) -> RunOutcome:
    # 2. Train, with preprocessing fitted on the training split only.
    trained = train_baseline(ctx, record, net, spec)
    # 3–4. Evaluate: validation decides, the test split confirms. Quality met? If not, tune.
    with span("quality"):
        quality = quality_stage(ctx, trained, record)
    record.manifest["decisions"] = {"quality": quality.decision.to_dict()}
    record.save()
    # 5. Export: safetensors + model.json, ONNX, and proof that ONNX reproduces PyTorch.
    baseline = export_stage(ctx, quality.baseline, record)
    # 6. Profile every backend on real test samples, and measure its test quality.
    profiled = profile_stage(ctx, baseline, record)
    # 7–8. Efficiency met? If not, the efficiency search (or the configured compress.plan),
    # both on the data with the test split held out.
    judged = judge_baseline(ctx, quality, profiled, record.manifest)
    judged = efficiency_stage(ctx, baseline, judged, record)
    record.manifest["decisions"]["efficiency"] = judged.decision.to_dict()
    # 9. Every choice is frozen: the test split confirms the deployed model, once.
    checks = confirm_stage(ctx, baseline, judged.efficiency, record)
    # 10. Serving met? The deployed model behind zenopt serve, under load (when asked).
    checks += serve_stage(ctx, record)
    exit_code = _verdict(ctx, checks, record)
    # 11. The analysis the report shows beyond the verdict, after the verdict and its report
    # are on disk: an interruption here loses only the analysis.
    _analyse(ctx, baseline, record)
    return RunOutcome(ctx.run_dir, record.manifest, exit_code)


def _verdict(ctx: RunContext, checks: list[RequirementCheck], record: RunRecord) -> int:
    """Every requirement on the model handed back (its quality as the test split confirmed
    it); the manifest completed and its report."""
    from zenopt.report.html import write_report

    manifest = record.manifest
    manifest["requirements"] = [c.to_dict() for c in checks]
    all_met = all(c.met for c in checks)
    exit_code = 0 if all_met else 1
    manifest["verdict"] = {
        "all_met": all_met,
        "exit_code": exit_code,
        "missed": [c.name for c in checks if not c.met],
        "deploy_backend": ctx.config.requirements.backend,
    }
    if "compress" in manifest:
        candidate = manifest["compress"]["candidate"]
        manifest["verdict"]["deploy_backend"] = candidate["runtime"]
        manifest["verdict"]["deployed_model"] = candidate["folder"]
    manifest["timings"] = record.timings
    manifest["host_lock"] = host_lock_stats()  # what waiting for the host's other work cost
    manifest["status"] = "complete"
    manifest["finished_at"] = now()
    record.save()
    write_report(manifest, record.run.file("report.html"))
    return exit_code


def _analyse(ctx: RunContext, baseline: Baseline, record: RunRecord) -> None:
    """Measure the analysis into the manifest and render the report again with it; a report
    that fails to render with it keeps the verdict's, and says the analysis failed."""
    from zenopt.report.html import write_report

    manifest = record.manifest
    with record.timed("analysis_s"):
        manifest["analysis"] = run_analysis(ctx, baseline, manifest)
    record.save()
    try:
        write_report(manifest, record.run.file("report.html"))
    except Exception as exc:  # the verdict's report stays; the analysis is recorded as failed
        manifest["analysis"] = {"errors": {"report": f"{type(exc).__name__}: {first_line(exc)}"}}
        record.save()
        write_report(manifest, record.run.file("report.html"))
