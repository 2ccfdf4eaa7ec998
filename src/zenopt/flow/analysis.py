"""The analysis the report shows beyond the verdict, measured once the flow has chosen its model.

- operators: per-operator time of the FP32 baselines and of the chosen model, at the latency
  and throughput batches, and a before/after comparison in the chosen model's runtime;
- scaling: throughput against batch size (1 … the largest measured) and speed against thread
  count (1 … every usable core), for each deployable model;
- memory: peak inference memory and load time per runtime, each in a fresh process;
- ceiling: this CPU's peak FP32 and INT8 GEMM rate (cached per machine) and each model's
  achieved GFLOP/s as a fraction of it;
- instructions (off by default): instructions per inference counted by Valgrind's callgrind,
  at one thread, a noise-free check on the time ratios;
- explanations: permutation importance (tables), gradient saliency (images), per-class errors.

Everything lands in ``manifest["analysis"]`` so the report is rebuilt from the manifest alone.
A part that fails is recorded with its one-line error and the run goes on: an analysis is
never a reason to lose a finished run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.compress.candidate import deploy_path
from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError, first_line
from zenopt.explain import confusions, permutation_importances, saliency_maps
from zenopt.flow.context import Baseline, RunContext
from zenopt.models.onnx_file import stored_graph
from zenopt.profile.ceiling import achieved, gemm_ceiling
from zenopt.profile.latency import make_batch
from zenopt.profile.machine import usable_cores
from zenopt.profile.memory import inference_memory
from zenopt.profile.op_compare import compare_operators
from zenopt.profile.operators import onnx_operator_profile, torch_operator_profile
from zenopt.profile.scaling import batch_ladder, batch_scaling, thread_ladder, thread_scaling
from zenopt.profile.trace import span
from zenopt.report.progress import stage_progress

__all__ = ["Deployable", "deployables", "run_analysis"]


@dataclass(frozen=True)
class Deployable:
    """One model as it is deployed: its label in the report, runtime, file and facts."""

    label: str
    runtime: str
    path: Path
    threads: int
    flops: int | None
    int8: bool
    throughput: dict[str, float]
    bf16: bool = False


def deployables(
    manifest: dict[str, Any], run_dir: Path, artifacts: dict[str, Path], threads: int
) -> list[Deployable]:
    """The FP32 baselines that were profiled, and the chosen compressed model if any."""
    paths = {"torch": artifacts["spec"], "onnxruntime": artifacts["onnx"]}
    flops = manifest.get("cost", {}).get("flops")
    models = [
        Deployable(f"{name} FP32", name, paths[name], threads, flops, False, p["throughput"])
        for name, p in manifest.get("profile", {}).items()
        if name in paths
    ]
    candidate = (manifest.get("compress") or {}).get("candidate")
    if candidate:
        folder = run_dir / candidate["folder"]
        files = {k: folder / v for k, v in candidate["files"].items()}
        methods = {step.get("method") for step in candidate.get("steps", [])}
        models.append(
            Deployable(
                "chosen",
                candidate["runtime"],
                deploy_path(files, candidate["runtime"]),
                candidate["threads"],
                candidate.get("flops"),
                bool(methods & {"quantize", "qat"}),
                candidate["profile"]["throughput"],
                any(
                    s.get("method") == "precision" and s.get("dtype") == "bf16"
                    for s in candidate.get("steps", [])
                ),
            )
        )
    return models


def _guarded(part: str, errors: dict[str, str], work: Callable[[], Any]) -> Any:
    try:
        return work()
    except Exception as exc:  # an analysis never loses a finished run: record and go on
        errors[part] = f"{type(exc).__name__}: {first_line(exc)}"
        return None


def _operators(
    models: list[Deployable], pool: np.ndarray, batches: list[int], calls: int, warmup: int
) -> dict[str, Any]:
    from zenopt.models import load_deployable

    profiles: dict[str, dict[str, Any]] = {}
    for model in models:
        profiles[model.label] = {}
        net = load_deployable(model.path)[0] if model.runtime != "onnxruntime" else None
        for batch in batches:
            x = make_batch(pool, batch)
            first = batch == batches[0]  # the latency batch: overhead-bound, many calls
            n, w = (calls, warmup) if first else (max(5, calls // 10), min(warmup, 5))
            if model.runtime == "onnxruntime":
                table = onnx_operator_profile(model.path, x, model.threads, w, n)
            else:
                table = torch_operator_profile(net, x, model.threads, w, n, model.bf16)
            profiles[model.label][f"b{batch}"] = table
    result: dict[str, Any] = {"profiles": profiles, "batches": batches}
    chosen = next((m for m in models if m.label == "chosen"), None)
    base = next((m for m in models if chosen and m.label == f"{chosen.runtime} FP32"), None)
    if chosen and base:
        result["comparison"] = {
            "before": base.label,
            "batches": {
                f"b{b}": compare_operators(
                    profiles[base.label][f"b{b}"], profiles["chosen"][f"b{b}"]
                )
                for b in batches
            },
        }
    return result


def _scaling(
    models: list[Deployable], pool: np.ndarray, config: RunConfig, largest: int
) -> dict[str, Any]:
    bench, req = config.bench, config.requirements
    # A curve has many points: fewer calls per point than the main profile (whose counts the
    # requirements are judged on), recorded with every point.
    warmup = min(bench.warmup, 5)
    repeats, large = max(10, bench.repeats // 2), max(3, bench.throughput_repeats // 3)
    ladder = thread_ladder(usable_cores())
    batches = batch_ladder(largest)
    curves, threads = {}, {}
    for model in models:
        curves[model.label] = batch_scaling(
            model.runtime,
            model.path,
            pool,
            batches,
            model.threads,
            warmup,
            repeats,
            large,
        )
        threads[model.label] = thread_scaling(
            model.runtime,
            model.path,
            pool,
            ladder,
            (req.latency_batch, req.throughput_batch),
            warmup,
            (repeats, large),
        )
    return {"batches": batches, "threads_tried": ladder, "batch": curves, "threads": threads}


def _memory(models: list[Deployable], x: np.ndarray, errors: dict[str, str]) -> dict[str, Any]:
    """One fresh process per model; a model whose probe fails is recorded, the others kept."""
    out = {}
    for m in models:

        def probe(m: Deployable = m) -> dict[str, Any]:
            return inference_memory(m.runtime, m.path, x, m.threads)

        measured = _guarded(f"memory of {m.label}", errors, probe)
        if measured is not None:
            out[m.label] = measured
    return out


def _held(model: Deployable, rate: float, own: dict[str, Any], batch: int) -> dict[str, Any]:
    """A model's achieved rate against this machine's peaks at its thread count; a fraction
    above 1 is never shown: it is None, and the kind is listed in ``above_peak``."""
    fp32 = achieved(model.flops, rate, own["fp32"]["peak_gops"])
    int8 = achieved(model.flops, rate, own["int8"]["peak_gops"])
    fractions = {"fp32": fp32["fraction"], "int8": int8["fraction"]}
    above = [kind for kind, f in fractions.items() if f is not None and f > 1.0]
    return {
        "batch": batch,
        "threads": model.threads,
        "peak_fp32_gops": own["fp32"]["peak_gops"],
        "samples_per_s": rate,
        "flops_per_sample": model.flops,
        "gflops": fp32["gflops"],
        "fraction_fp32": None if "fp32" in above else fractions["fp32"],
        "fraction_int8": None if "int8" in above else fractions["int8"],
        "against": "int8" if model.int8 else "fp32",
        "above_peak": above,
    }


def _ceiling(
    models: list[Deployable], env: dict[str, Any], threads: int, batch: int
) -> dict[str, Any]:
    """Each model against the peak at its own thread count (a 1-thread plan against the
    1-thread peak; each count measured once and cached). A rate above the peak it is held
    against means one of the two was measured on a busy machine: the peak is measured again
    at once, and if the rate still exceeds it, both are flagged."""
    peaks: dict[int, dict[str, Any]] = {}
    refreshed: set[int] = set()

    def peak(n: int, refresh: bool = False) -> dict[str, Any]:
        if refresh or n not in peaks:
            peaks[n] = gemm_ceiling(env, n, refresh=refresh)
            refreshed.update({n} if refresh else set())
        return peaks[n]

    rows, flags = {}, []
    for model in models:
        rate = model.throughput.get(f"b{batch}")
        if rate is None:
            continue
        row = _held(model, rate, peak(model.threads), batch)
        if row["against"] in row["above_peak"] and model.threads not in refreshed:
            row = _held(model, rate, peak(model.threads, refresh=True), batch)
        if row["against"] in row["above_peak"]:
            kind = row["against"]
            row["flag"] = (
                f"{row['gflops']:.4g} GFLOP/s is above the {kind.upper()} peak measured again "
                f"({peaks[model.threads][kind]['peak_gops']:.4g}): the rate or the peak was "
                "measured while the machine was busy, or the runtime computes the model with "
                "fewer operations than its nominal FLOPs (a Winograd or FFT convolution)"
            )
            flags.append(f"{model.label}: {row['flag']}")
        rows[model.label] = row
    return {**peak(threads), "models": rows, "flags": flags}


def _instructions(
    models: list[Deployable], pool: np.ndarray, batches: list[int], repeats: int
) -> dict[str, Any]:
    """Instructions per inference of every model at the latency and the throughput batch, in
    one valgrind process; recorded as skipped, with how to install it, when valgrind is
    missing."""
    from zenopt.profile.instructions import CountedModel, count_instructions, require_valgrind

    try:
        require_valgrind()
    except ConfigError as exc:
        return {"skipped": str(exc)}
    counted, skipped = [], {}
    inputs = {b: {"x": make_batch(pool, b)} for b in batches}  # the same rows for every model
    for m in models:
        if m.runtime == "torch_compile":  # compiling under Valgrind would take many minutes
            skipped[m.label] = "a torch_compile model is not counted (compiling under Valgrind)"
            continue
        if m.bf16:  # Valgrind has no AVX512-BF16 or AMX: reference kernels, not comparable
            skipped[m.label] = "a bf16 model runs reference kernels under Valgrind (no bf16 "
            skipped[m.label] += "instructions there): its count would not describe it"
            continue
        counted.append(CountedModel(m.label, m.runtime, m.path, inputs))
    return {**count_instructions(counted, batches, repeats), "skipped_models": skipped}


def _explain(ctx: RunContext, baseline: Baseline, manifest: dict[str, Any]) -> dict[str, Any]:
    config, stage = ctx.config, ctx.data
    model, head = baseline.model, baseline.spec.head
    test = stage.prepared.splits.test
    deployed = (manifest.get("quality", {}).get("test_model") or {}).get("label", "")
    out: dict[str, Any] = {
        "model": f"per-class errors: the deployed model ({deployed or 'the trained model'}); "
        "importance and saliency: the trained FP32 model (PyTorch); both on the test split, "
        "after every choice was made",
    }
    quality = manifest.get("quality", {}).get("test", {})
    if "confusion_matrix" in quality:
        out["confusions"] = confusions(quality["confusion_matrix"], quality["class_names"])
    a = config.analysis
    if stage.dataset.kind == "table":
        names = list(stage.prepared.feature_names)
        out["importance"] = permutation_importances(
            model, head, test.X, test.y, names, a.explain_repeats, config.seed
        )
    elif stored_graph(model) is not None:  # an ONNX graph run as it came has no gradients
        out["saliency_skipped"] = "the model runs as its ONNX graph, which has no gradients"
    elif head != "identity":
        out["saliency"] = saliency_maps(
            model, head, test.X, test.y, stage.dataset.class_names, a.saliency_images
        )
    return out


def _parts(
    ctx: RunContext, baseline: Baseline, manifest: dict[str, Any], errors: dict[str, str]
) -> tuple[list[Deployable], list[tuple[str, bool, Callable[[], Any]]]]:
    """The models analysed, and each part: its name, whether it is on, its work."""
    config, threads = ctx.config, ctx.threads
    a, req = config.analysis, config.requirements
    models = _guarded(
        "models", errors, lambda: deployables(manifest, ctx.run_dir, baseline.files, threads)
    )
    models = models or []
    pool = ctx.splits.test.X
    batches = sorted({req.latency_batch, req.throughput_batch})
    largest = max([*config.bench.batch_sizes, req.throughput_batch])
    return models, [
        (
            "operators",
            a.operators,
            lambda: _operators(models, pool, batches, a.operator_calls, config.bench.warmup),
        ),
        ("scaling", a.scaling, lambda: _scaling(models, pool, config, largest)),
        (
            "memory",
            a.memory,
            lambda: _memory(models, make_batch(pool, req.throughput_batch), errors),
        ),
        (
            "ceiling",
            a.ceiling,
            lambda: _ceiling(models, manifest["environment"], threads, req.throughput_batch),
        ),
        (
            "instructions",
            a.instructions,
            lambda: _instructions(
                models, pool, a.instruction_batches or batches, a.instruction_repeats
            ),
        ),
        ("explain", a.explain, lambda: _explain(ctx, baseline, manifest)),
    ]


def run_analysis(ctx: RunContext, baseline: Baseline, manifest: dict[str, Any]) -> dict[str, Any]:
    """Measure every enabled part; returns ``manifest["analysis"]``."""
    errors: dict[str, str] = {}
    models, parts = _parts(ctx, baseline, manifest, errors)
    result: dict[str, Any] = {"models": [m.label for m in models], "errors": errors}
    timings: dict[str, float] = {}
    with stage_progress(ctx.console, ctx.quiet, "analysis") as progress:
        runs = [(n, w) for n, on, w in parts if on and (n == "explain" or models)]
        task = progress.add_task("", total=len(runs))
        for name, work in runs:
            progress.update(task, description=name)
            tick = time.perf_counter()
            with span(f"analysis {name}"):
                value = _guarded(name, errors, work)
            timings[f"{name}_s"] = time.perf_counter() - tick
            if value is not None:
                result[name] = value
            progress.advance(task)
    result["timings"] = timings
    return result
