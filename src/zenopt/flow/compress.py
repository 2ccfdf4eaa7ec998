"""The compress box with a given plan: apply it to a trained model and measure the result side
by side with the baseline, PyTorch eager FP32 (the reference every ratio is against) and the
FP32 ONNX export.

Used by ``zenopt compress RUN_DIR --plan …`` and by ``zenopt run`` when ``compress.plan`` is set.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zenopt.compress import CompressContext, apply_plan, plan_label
from zenopt.compress.candidate import Measured, save_candidate
from zenopt.compress.effects import no_effect
from zenopt.compress.fidelity import fidelity
from zenopt.compress.search_space import speed_only
from zenopt.core.compress_config import Step
from zenopt.core.config import RunConfig, load_config
from zenopt.core.errors import ConfigError, DataError
from zenopt.core.records import RequirementCheck, json_default
from zenopt.core.rundir import RunDir, atomic_write_text, plan_folder, read_manifest
from zenopt.data.split import carve_holdout
from zenopt.flow.candidate import candidate_checks, candidate_record, measure_baseline
from zenopt.flow.confirm import confirm
from zenopt.flow.context import Baseline, RunContext, baseline_files
from zenopt.flow.data import DataStage, prepare_data
from zenopt.flow.speed import SPEED_TARGETS, confirm_speed, speed_checks
from zenopt.models import DeployableModel, load_deployable
from zenopt.profile.machine import fingerprint, inference_threads
from zenopt.report.progress import stage_progress
from zenopt.runtime.deployed import candidate_model
from zenopt.train import resolve_loss

__all__ = [
    "CompressOptions",
    "CompressResult",
    "apply_configured_plan",
    "compress_model",
    "compress_run",
    "load_finished_run",
    "make_context",
]


@dataclass(frozen=True)
class CompressResult:
    folder: Path
    record: dict[str, Any]


@dataclass(frozen=True)
class CompressOptions:
    """``zenopt compress``'s choices: the candidate's folder name under ``compressed/``
    (default: from the plan), the inference threads (default: the run's, else all cores)."""

    name: str | None = None
    threads: int | None = None
    quiet: bool = False


def make_context(
    config: RunConfig, stage: DataStage, teacher: DeployableModel, workdir: Path
) -> CompressContext:
    """What a technique gets besides the model: the run's training rows, less a holdout carved
    from them (``compress.finetune_holdout``) that fine-tuning stops early on; its loss and
    training settings, the teacher, a work folder. The validation split selects between
    candidates and the test split confirms the chosen one: neither is given to a technique."""
    train = stage.prepared.splits.train
    stratify = stage.dataset.task != "regression"
    fraction = config.compress.finetune_holdout
    (X_fit, y_fit), (X_stop, y_stop) = carve_holdout(
        train.X, train.y, fraction, config.seed, stratify, train.groups
    )
    workdir.mkdir(parents=True, exist_ok=True)
    return CompressContext(
        X_train=X_fit,
        y_train=y_fit,
        X_holdout=X_stop,
        y_holdout=y_stop,
        net_input=stage.prepared.model_input,
        loss=resolve_loss(config.train.loss, stage.dataset.task),
        train=config.train,
        seed=config.seed,
        teacher=teacher.eval(),
        workdir=workdir,
        cpu_flags=fingerprint()["cpu_flags"],
        data=config.data,
        num_classes=stage.dataset.num_classes,
    )


def compress_model(
    ctx: RunContext,
    baseline: Baseline,
    steps: list[Step],
    folder: Path,
    measured: dict[str, Measured],
) -> CompressResult:
    """Apply ``steps`` to a copy of the baseline's model, save the candidate into ``folder``,
    measure it in its runtime (on the validation split: ``ctx`` is a selection context) and
    write ``candidate.json`` with its ratios to the ``measured`` FP32 baselines."""
    label = plan_label(steps)
    with tempfile.TemporaryDirectory(prefix="zenopt-compress-") as work:
        _refuse_idle_steps(ctx, baseline, steps, Path(work) / "untrained")
        tick = time.perf_counter()
        context = make_context(ctx.config, ctx.data, baseline.model, Path(work))
        with stage_progress(ctx.console, ctx.quiet, "compress") as progress:
            task = progress.add_task(label, total=len(steps))
            context.progress = lambda what, done, total: progress.update(
                task, description=f"{what} epoch {done}/{total}"
            )
            state = apply_plan(
                steps, baseline.model, baseline.spec, context, lambda _: progress.advance(task)
            )
        seconds = time.perf_counter() - tick
        state.threads = state.threads or ctx.threads
        files = save_candidate(state, folder, ctx.splits.val.X)
        checked = fidelity(state, files, ctx.splits.val.X, state.threads)
    record = {**candidate_record(ctx, state, files, steps, measured), "seconds_to_apply": seconds}
    record["fidelity"] = checked
    _write_record(folder, record)
    return CompressResult(folder, record)


def _refuse_idle_steps(ctx: RunContext, baseline: Baseline, steps: list[Step], work: Path) -> None:
    """A plan with a step that changes nothing is refused before any training: its untrained
    form is applied (seconds) and each step's notes are read."""
    context = make_context(ctx.config, ctx.data, baseline.model, work)
    state = apply_plan(speed_only(steps), baseline.model, baseline.spec, context)
    idle = no_effect(state.notes)
    if idle:
        raise ConfigError(f"compress.plan: {idle[0]}")


def load_finished_run(
    run_dir: Path, config: RunConfig, console: Console, options: CompressOptions
) -> tuple[RunContext, Baseline]:
    """A complete run's data (split again, and checked to split as the run did) and its
    trained baseline with its files, for work on it after the fact."""
    manifest = read_manifest(run_dir)
    stage = prepare_data(config)
    sizes = stage.prepared.splits.sizes()
    if sizes != manifest["data"]["splits"]:
        raise DataError(
            f"{run_dir}: the data in config.yaml now splits as {sizes}, not as the run did "
            f"({manifest['data']['splits']}); the data changed, so run zenopt run again"
        )
    model, spec = load_deployable(run_dir)
    threads = inference_threads(config.bench.threads, options.threads)
    ctx = RunContext(config, stage, run_dir, console, options.quiet, threads)
    return ctx, Baseline(model, spec, baseline_files(run_dir))


def compress_run(
    run_dir: Path, steps: list[Step], console: Console, options: CompressOptions
) -> tuple[CompressResult, list[RequirementCheck]]:
    """``zenopt compress``: the run's data and model again, the plan applied and measured
    beside the FP32 baselines on the validation split, then (the plan being the user's
    choice, frozen) confirmed once on the test split, which its requirements are judged on."""
    manifest = read_manifest(run_dir)  # a complete run's, or a one-line error
    config = load_config(run_dir / "config.yaml")
    ctx, baseline = load_finished_run(run_dir, config, console, options)
    selection = ctx.selection()
    with stage_progress(console, options.quiet, "baseline") as progress:
        task = progress.add_task("measuring the fp32 baselines", total=None)
        measured = measure_baseline(selection, baseline)
        progress.update(task, total=1, completed=1)
    folder = run_dir / "compressed" / (options.name or plan_folder(plan_label(steps)))
    result = compress_model(selection, baseline, steps, folder, measured)
    record, checks = _confirm_candidate(ctx, baseline, result)
    summary = {k: record[k] for k in ("plan", "runtime", "quality_drop", "vs_torch_fp32")}
    manifest.setdefault("compressed", {})[folder.name] = {
        **summary,
        "test_drop": record["drop"]["test"]["drop"],
        "folder": str(folder.relative_to(run_dir)),
        "met": all(c.met for c in checks),
    }
    RunDir(run_dir).write_manifest(manifest)
    return CompressResult(folder, record), checks


def _confirm_candidate(
    ctx: RunContext, baseline: Baseline, result: CompressResult
) -> tuple[dict[str, Any], list[RequirementCheck]]:
    """The plan being the user's choice: its quality once on the test split, its speed in one
    interleaved session beside the FP32 baselines; the requirements judged on both."""
    label = str(result.folder.relative_to(ctx.run_dir))
    deployed = candidate_model(result.folder, result.record, label)
    confirmation = confirm(ctx, baseline, deployed)
    speed = confirm_speed(ctx, baseline, deployed)
    record = {**result.record, "test": confirmation.metrics, "speed": speed.to_dict()}
    record["drop"] = {**record["drop"], "test": confirmation.drop}
    _write_record(result.folder, record)
    checks = candidate_checks(ctx.config, record, "test")
    checks = [c for c in checks if c.name not in SPEED_TARGETS]
    return record, checks + speed_checks(ctx.config.requirements, speed)


def _write_record(folder: Path, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2, default=json_default) + "\n"
    atomic_write_text(folder / "candidate.json", text)


def apply_configured_plan(
    ctx: RunContext, baseline: Baseline
) -> tuple[dict[str, Any], list[RequirementCheck]]:
    """``zenopt run`` with ``compress.plan``: the candidate in ``<run>/compressed/<plan>/``,
    measured next to the FP32 baselines, and the run's requirements checked on it."""
    plan = list(ctx.config.compress.plan)
    measured = measure_baseline(ctx, baseline)
    folder = ctx.run_dir / "compressed" / plan_folder(plan_label(plan))
    result = compress_model(ctx, baseline, plan, folder, measured)
    record = {**result.record, "folder": str(folder.relative_to(ctx.run_dir))}
    return record, candidate_checks(ctx.config, record)
