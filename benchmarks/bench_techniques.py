"""Every compression technique, and the plan prune 50% → distill → static INT8, measured side by
side with PyTorch eager FP32 on the default run (digits at 28×28), for mnist_cnn and tf_cnn.

For each model the baseline is trained once (examples/digits.yaml); each technique is then
applied to it with `zenopt.flow.compress.compress_model`, saved, reloaded in its runtime and
measured there: validation accuracy with its 95% interval, batch-1 latency (median of the run's 200
timed calls) and batch-256 throughput (median of 30), size on disk and after zlib. Ratios are
against PyTorch eager FP32 measured in the same process, minutes apart at most. Writes a section
of benchmarks/RESULTS.md.

    make bench      # or: .venv/bin/python benchmarks/bench_techniques.py --models mnist_cnn
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.compress import parse_plan
from zenopt.core.config import load_config
from zenopt.core.rundir import plan_folder
from zenopt.flow import RunOptions, run_pipeline
from zenopt.flow.candidate import measure_baseline
from zenopt.flow.compress import CompressOptions, compress_model, load_finished_run
from zenopt.profile.machine import default_threads, fingerprint

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "digits.yaml"
PLAN = "prune(ratio=0.5) -> distill -> quantize(mode=static)"
TECHNIQUES = [
    ("ONNX Runtime FP32", "runtime(name=onnxruntime)"),
    ("torch.compile FP32", "runtime(name=torch_compile)"),
    ("static INT8 QDQ", "quantize(mode=static)"),
    ("static INT8 QDQ, first conv too", "quantize(mode=static, keep_float=[])"),
    ("dynamic INT8, MatMul/Gemm", "quantize(mode=dynamic)"),
    ("dynamic INT8, whole net", "quantize(mode=dynamic, op_types=[Conv, Gemm], keep_float=[])"),
    ("QAT → INT8 QDQ", "qat"),
    ("fp16 (ONNX), if faster", "precision(dtype=fp16)"),
    ("bf16 (torch autocast), if faster", "precision(dtype=bf16) -> runtime(name=torch)"),
    ("l1_unstructured 40% (AGP)", "unstructured(ratio=0.4) -> runtime(name=torch)"),
    ("prune 50% + fine-tune", "prune(ratio=0.5)"),
    ("prune 50% + fine-tune → INT8", "prune(ratio=0.5) -> quantize(mode=static)"),
    ("**prune 50% → distill → INT8**", PLAN),
]
TARGETS = {"latency_b1_p50": 10.0, "throughput_b256": 15.0, "size": 8.0}
SEEDS = 5  # the plan is applied this many times, with fine-tuning/calibration seeds 0 … 4
ROUNDS = 7  # alternating timing rounds of the plan against PyTorch eager FP32
MAX_DROP_POINTS = 0.5


def interleaved_ratios(
    reference: Path, candidate: Path, runtime: str, pool: Any, threads: int, rounds: int
) -> dict[str, list[float]]:
    """Ratios of the plan to PyTorch eager FP32 measured in alternation, round by round, so
    that drift of this shared machine hits both sides alike: per round, 100 timed batch-1 calls
    and 10 timed batch-256 calls of each, medians compared."""
    from zenopt.profile.latency import make_batch, measure_calls
    from zenopt.runtime.predictor import create_predictor

    loaded = []
    for backend, path in (("torch", reference), (runtime, candidate)):
        predictor = create_predictor(backend)
        predictor.load(path, threads)
        loaded.append(predictor)
    out: dict[str, list[float]] = {"latency_b1_p50": [], "throughput_b256": []}
    try:
        for _ in range(rounds):
            medians = []
            for predictor in loaded:
                b1 = measure_calls(predictor.predict, make_batch(pool, 1), 20, 100)
                b256 = measure_calls(predictor.predict, make_batch(pool, 256), 3, 10)
                medians.append((float(np.median(b1)), float(np.median(b256))))
            (ref1, ref256), (cand1, cand256) = medians
            out["latency_b1_p50"].append(ref1 / cand1)
            out["throughput_b256"].append(ref256 / cand256)
    finally:
        for predictor in loaded:
            predictor.close()
    return out


def baseline_run(model: str, out: Path) -> Path:
    config = load_config(CONFIG, [f"model.name={model}", "tune.when=never"])
    run_pipeline(config, out, quiet=True, options=RunOptions(overwrite=True))
    return out


def bench_model(model: str, names: list[str], console: Console) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix=f"bench-techniques-{model}-") as tmp:
        run = baseline_run(model, Path(tmp) / "run")
        config = load_config(run / "config.yaml")
        ctx, trained = load_finished_run(run, config, console, CompressOptions(quiet=True))
        baseline = measure_baseline(ctx, trained)
        for name, plan in TECHNIQUES:
            if names and name.strip("*") not in names:
                continue
            tick = time.perf_counter()
            steps = parse_plan(plan)
            folder = Path(tmp) / "compressed" / plan_folder(plan)
            result = compress_model(ctx, trained, steps, folder, baseline)
            record = result.record
            console.print(
                f"{model} · {name}: acc {record['validation']['accuracy']:.4f}, "
                f"×b1 {record['vs_torch_fp32']['latency_b1_p50']:.1f}, "
                f"×b256 {record['vs_torch_fp32']['throughput_b256']:.1f}, "
                f"×size {record['vs_torch_fp32']['size']:.1f} "
                f"({time.perf_counter() - tick:.0f} s)"
            )
            row: dict[str, Any] = {"name": name, "record": record}
            if plan == PLAN:
                # The plan again, with its fine-tuning and calibration seeded differently.
                drops = [record["quality_drop"]]
                for seed in range(1, SEEDS):
                    reseeded = dataclasses.replace(
                        ctx, config=config.model_copy(update={"seed": seed})
                    )
                    again = compress_model(
                        reseeded, trained, steps, Path(tmp) / f"seed{seed}", baseline
                    )
                    drops.append(again.record["quality_drop"])
                row["drops"] = drops
                row["interleaved"] = interleaved_ratios(
                    trained.files["spec"],
                    folder / record["files"]["onnx"],
                    record["runtime"],
                    ctx.splits.test.X,
                    ctx.threads,
                    ROUNDS,
                )
            rows.append(row)
        rows.insert(0, {"name": "PyTorch eager FP32 (reference)", "baseline": baseline["torch"]})
    return rows


def _row(row: dict[str, Any]) -> str:
    if "baseline" in row:
        b = row["baseline"]
        acc, (low, high) = b.quality["accuracy"], b.quality["accuracy_ci95"]
        lat, thr = b.profile["latency_ms"]["b1"]["p50"], b.profile["throughput"]["b256"]
        return (
            f"| {row['name']} | torch | {acc:.4f} ({low:.3f}–{high:.3f}) | — | 1.0× ({lat:.3f} ms) "
            f"| 1.0× ({thr:,.0f}/s) | 1.0× ({b.size_bytes / 1e6:.2f} MB) | 1.0× | — |"
        )
    r = row["record"]
    q, ratio = r["validation"], r["vs_torch_fp32"]
    base_size = r["baseline"]["torch"]["compressed_bytes"]
    notes = []
    for note in r["notes"]:
        if "sparsity" in note:
            notes.append(f"sparsity {note['sparsity']['total']:.0%}")
        if note.get("kept_float"):
            notes.append(f"float: {', '.join(note['kept_float'])}")
        if "kept" in note:
            low = next(
                v for k, v in note.items() if k.startswith("median_ms_") and k[-4:] != "fp32"
            )
            fp32 = note["median_ms_fp32"]
            times = ", ".join(f"b{b}: {low[b] / fp32[b]:.2f}× the fp32 time" for b in fp32)
            notes.append(f"{'kept' if note['kept'] else 'dropped'} ({times})")
        if "channels" in note:
            notes.append(f"{note['params_before']:,} → {note['params_after']:,} params")
    lat = r["profile"]["latency_ms"]["b1"]["p50"]
    thr = r["profile"]["throughput"]["b256"]
    return (
        f"| {row['name']} | {r['runtime']} | {q['accuracy']:.4f} ({q['accuracy_ci95'][0]:.3f}–"
        f"{q['accuracy_ci95'][1]:.3f}) | {100 * r['quality_drop']:+.2f} | "
        f"{ratio['latency_b1_p50']:.1f}× ({lat:.3f} ms) | {ratio['throughput_b256']:.1f}× "
        f"({thr:,.0f}/s) | {ratio['size']:.1f}× ({r['size_bytes'] / 1e6:.2f} MB) | "
        f"{base_size / r['compressed_bytes']:.1f}× | {'; '.join(notes) or '—'} |"
    )


def _spread(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    med = statistics.median(values) * scale
    return f"{med:.{digits}f} ({min(values) * scale:.{digits}f}–{max(values) * scale:.{digits}f})"


def _verdict(rows: list[dict[str, Any]]) -> str:
    row = next((r for r in rows if r.get("record", {}).get("plan") == PLAN), None)
    if row is None:
        return ""
    plan, timing, drops = row["record"], row["interleaved"], row["drops"]
    b1 = statistics.median(timing["latency_b1_p50"])
    b256 = statistics.median(timing["throughput_b256"])
    size, drop = plan["vs_torch_fp32"]["size"], 100 * statistics.median(drops)
    parts = [
        f"b1 latency {_spread(timing['latency_b1_p50'])}× (target ≥ 10×)",
        f"b256 throughput {_spread(timing['throughput_b256'])}× (≥ 15×)",
        f"size {size:.1f}× (≥ 8×)",
        f"accuracy drop {_spread(drops, 100, 2)} points over {len(drops)} seeds (≤ 0.5)",
    ]
    met = {
        "b1": b1 >= TARGETS["latency_b1_p50"],
        "b256": b256 >= TARGETS["throughput_b256"],
        "size": size >= TARGETS["size"],
        "drop": drop <= MAX_DROP_POINTS,
    }
    missed = [k for k, ok in met.items() if not ok]
    return (
        f"The plan, timed in {ROUNDS} rounds alternating with PyTorch eager FP32 (median, "
        f"min–max): {', '.join(parts)} — "
        + ("all met." if not missed else f"missed: {', '.join(missed)}.")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mnist_cnn", "tf_cnn"])
    parser.add_argument("--only", nargs="*", default=[], help="technique names to run")
    args = parser.parse_args()
    console = Console(stderr=True)
    env = fingerprint()
    flags = [f for f, on in env["cpu_flags"].items() if on]
    lines = [
        "## Compression techniques (`bench_techniques.py`)",
        "",
        f"{env['cpu_model']}, {default_threads()} threads, flags: {', '.join(flags)}; "
        f"onnxruntime {env['libraries']['onnxruntime']}, torch {env['libraries']['torch']}. "
        "Digits upscaled to 28×28 (1,168 train / 270 validation / 359 test rows), the "
        "baseline trained by examples/digits.yaml. Ratios are to PyTorch eager FP32 measured "
        "in the same run: latency = median of 200 timed batch-1 calls, throughput = 256 / "
        "median of 30 timed batch-256 calls; size is the deployed file (ONNX, or safetensors "
        "for torch runtimes), zlib = the same after zlib -9. Drop = baseline minus candidate "
        "validation accuracy in points (n = 270: one sample is 0.37 points).",
    ]
    for model in args.models:
        tick = time.perf_counter()
        rows = bench_model(model, args.only, console)
        lines += [
            "",
            f"### {model} ({time.perf_counter() - tick:.0f} s)",
            "",
            "| technique | runtime | validation accuracy (95% CI) | drop (pts) | b1 latency | "
            "b256 throughput | size | zlib size | notes |",
            "|---|---|---|---|---|---|---|---|---|",
            *[_row(r) for r in rows],
            "",
            _verdict(rows),
        ]
    write_section("bench_techniques", "\n".join(lines))
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
