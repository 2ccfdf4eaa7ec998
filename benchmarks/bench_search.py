"""The efficiency search against what single-technique tools deliver, side by side in one run,
for mnist_cnn and tf_cnn on the default job (digits at 28×28, examples/digits.yaml):

- PyTorch eager FP32 (the reference every ratio is against),
- ONNX Runtime FP32 (the exported baseline),
- ONNX Runtime static INT8 alone (what an INT8-only tool such as Intel Neural Compressor or
  NNCF delivers),
- Torch-Pruning 50% alone (with its fine-tuning),
- zenopt's chosen plan (the search with the example's requirements, the library's default
  search budget of 30 plans / 8 minutes, and the accuracy budget INT8 alone spent).

Every model is timed in the same alternating rounds (per round: 100 batch-1 calls and 10
batch-256 calls each, medians), so drift of this shared machine hits all alike; ratios are
median (min–max) over the rounds. Writes a section of benchmarks/RESULTS.md.

    make bench      # or: .venv/bin/python benchmarks/bench_search.py --models mnist_cnn
    # --job-budget: the example's smaller budget (10 plans / 3 minutes) instead
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.compress import parse_plan
from zenopt.compress.candidate import deploy_path
from zenopt.core.config import load_config
from zenopt.flow import RunOptions, run_pipeline
from zenopt.flow.candidate import measure_baseline
from zenopt.flow.compress import CompressOptions, compress_model, load_finished_run
from zenopt.flow.efficiency.search import run_efficiency_loop
from zenopt.profile.machine import default_threads, fingerprint
from zenopt.profile.rounds import time_in_rounds

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "digits.yaml"
ROUNDS = 7
SINGLE = {"INT8 alone": "quantize(mode=static)", "prune 50% alone": "prune(ratio=0.5)"}
NEEDED_OVER_INT8 = 1.5  # zenopt's plan vs INT8 alone, b256 throughput


def bench_model(model: str, console: Console, default_budget: bool = True) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-search-{model}-") as tmp:
        run = Path(tmp) / "run"
        base = load_config(
            CONFIG, [f"model.name={model}", "tune.when=never", "compress.search.when=never"]
        )
        run_pipeline(base, run, quiet=True, options=RunOptions(overwrite=True))
        overrides = ["compress.search.when=always"]
        if default_budget:  # the library's budget instead of the job's (30 plans, 8 minutes)
            overrides += ["compress.search.trials=30", "compress.search.timeout_min=8"]
        config = load_config(run / "config.yaml", overrides)
        ctx, trained = load_finished_run(run, config, console, CompressOptions(quiet=True))
        files, threads = trained.files, ctx.threads
        baseline = measure_baseline(ctx, trained)
        rows: dict[str, dict[str, Any]] = {}
        paths: dict[str, tuple[str, Path, int]] = {
            "PyTorch eager FP32": ("torch", files["spec"], threads),
            "ONNX Runtime FP32": ("onnxruntime", files["onnx"], threads),
        }
        for name, plan in SINGLE.items():
            folder = Path(tmp) / name.replace(" ", "-").replace("%", "")
            result = compress_model(ctx, trained, parse_plan(plan), folder, baseline)
            rows[name] = result.record
            record_files = {k: folder / v for k, v in result.record["files"].items()}
            paths[name] = (
                result.record["runtime"],
                deploy_path(record_files, result.record["runtime"]),
                result.record["threads"],
            )
        # The search gets the accuracy budget INT8 alone spent (at most the job's own), so its
        # plan is compared at an equal or smaller drop.
        budget = min(rows["INT8 alone"]["quality_drop"], config.requirements.max_quality_drop or 1)
        config.requirements.max_quality_drop = budget
        tick = time.perf_counter()
        search_ctx = dataclasses.replace(ctx, quiet=False)  # the search shows its progress
        search = run_efficiency_loop(search_ctx, trained)
        seconds = time.perf_counter() - tick
        chosen = search.chosen
        if chosen is not None:
            folder = run / chosen["folder"]
            chosen_files = {k: folder / v for k, v in chosen["files"].items()}
            paths["zenopt search"] = (
                chosen["runtime"],
                deploy_path(chosen_files, chosen["runtime"]),
                chosen["threads"],
            )
            rows["zenopt search"] = chosen
        times = time_in_rounds(
            paths, ctx.splits.test.X, 1, 256, ROUNDS, repeats=100, throughput_repeats=10
        )
    return {
        "budget": budget,
        "baseline": baseline,
        "rows": rows,
        "times": times,
        "search": search.summary,
        "search_s": seconds,
    }


def _ratios(times: Any, name: str) -> tuple[list[float], list[float]]:
    ref = times["PyTorch eager FP32"]
    mine = times[name]
    b1 = [r / m for r, m in zip(ref.latency_ms, mine.latency_ms, strict=True)]
    b256 = [m / r for r, m in zip(ref.throughput, mine.throughput, strict=True)]
    return b1, b256


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}× ({min(values):.1f}–{max(values):.1f})"


def table(result: dict[str, Any]) -> list[str]:
    baseline, rows, times = result["baseline"], result["rows"], result["times"]
    torch_fp32 = baseline["torch"]
    base_acc = torch_fp32.quality["accuracy"]
    lines = [
        "| model | runtime | val. accuracy | drop (pts) | b1 latency | b256 throughput | size |",
        "|---|---|---|---|---|---|---|",
    ]
    entries: list[tuple[str, str, float, int]] = [
        ("PyTorch eager FP32", "torch", base_acc, torch_fp32.size_bytes),
        (
            "ONNX Runtime FP32",
            "onnxruntime",
            baseline["onnxruntime"].quality["accuracy"],
            baseline["onnxruntime"].size_bytes,
        ),
    ]
    for name, record in rows.items():
        label = name if name != "zenopt search" else f"**zenopt search**: `{record['plan']}`"
        entries.append(
            (label, record["runtime"], record["validation"]["accuracy"], record["size_bytes"])
        )
    for label, runtime, acc, size in entries:
        name = label.split(":")[0].strip("*") if label.startswith("**") else label
        b1, b256 = _ratios(times, name)
        lines.append(
            f"| {label} | {runtime} | {acc:.4f} | {100 * max(0.0, base_acc - acc):+.2f} | "
            f"{_spread(b1)} | {_spread(b256)} | {torch_fp32.size_bytes / size:.1f}× "
            f"({size / 1e6:.2f} MB) |"
        )
    return lines


def verdict(result: dict[str, Any]) -> str:
    rows, times = result["rows"], result["times"]
    search = result["search"]
    counts = search["counts"]
    ran = (
        f"With a quality budget of {100 * result['budget']:.2f} points (what INT8 alone "
        f"lost), the search tried {counts['trials']} plans in {result['search_s']:.0f} s "
        f"({counts['rejected_before_training']} rejected before training, {counts['accepted']} "
        f"accepted, {counts['feasible']} feasible)."
    )
    if "zenopt search" not in rows:
        closest = "; ".join(
            f"{r['plan']} misses {', '.join(r['missed'] or ['acceptance'])}"
            for r in search["closest"]
        )
        return f"{ran} None was feasible; closest: {closest or 'none measured'}."
    _, chosen = _ratios(times, "zenopt search")
    _, int8 = _ratios(times, "INT8 alone")
    over = [c / i for c, i in zip(chosen, int8, strict=True)]
    drop_c = rows["zenopt search"]["quality_drop"]
    drop_i = rows["INT8 alone"]["quality_drop"]
    ok = statistics.median(over) >= NEEDED_OVER_INT8 and drop_c <= drop_i
    return (
        f"{ran} Chosen plan vs INT8 alone at b256: {_spread(over)} (target ≥ "
        f"{NEEDED_OVER_INT8}×) at a drop of {100 * drop_c:.2f} vs {100 * drop_i:.2f} points "
        f"(target: equal or smaller) — {'met' if ok else 'missed'}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mnist_cnn", "tf_cnn"])
    parser.add_argument(
        "--job-budget",
        action="store_true",
        help="search with the example job's budget (10 plans, 3 min), not the library "
        "default (30 plans, 8 min)",
    )
    args = parser.parse_args()
    console = Console(stderr=True)
    env = fingerprint()
    flags = [f for f, on in env["cpu_flags"].items() if on]
    lines = [
        "## Efficiency search vs single techniques (`bench_search.py`)",
        "",
        f"{env['cpu_model']}, {default_threads()} threads, flags: {', '.join(flags)}; "
        f"onnxruntime {env['libraries']['onnxruntime']}, torch {env['libraries']['torch']}. "
        "The default job (examples/digits.yaml: digits at 28×28, its requirements) searched "
        f"with {'the example job' if args.job_budget else 'the library default'} budget "
        f"({'10 plans / 3' if args.job_budget else '30 plans / 8'} minutes), "
        "with the quality budget set to what INT8 alone lost, so that zenopt's plan "
        f"is compared at an equal or smaller drop. Ratios to PyTorch eager FP32, timed in "
        f"{ROUNDS} alternating rounds "
        "in one process, median (min–max); drop = validation-accuracy points lost against it "
        "(n = 270: one sample is 0.37 points).",
    ]
    for model in args.models:
        tick = time.perf_counter()
        result = bench_model(model, console, not args.job_budget)
        lines += [
            "",
            f"### {model} ({time.perf_counter() - tick:.0f} s)",
            "",
            *table(result),
            "",
            verdict(result),
        ]
        console.print("\n".join(lines[-len(table(result)) - 3 :]))
    write_section("bench_search", "\n".join(lines))
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
