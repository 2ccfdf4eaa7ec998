"""Instructions per inference (Valgrind's callgrind) beside interleaved time ratios, for the
default job's models; and what ``--trace`` costs when no collector listens.

1. The default job (``examples/digits.yaml``, as ``make run``) runs once with ``--trace itt``
   under the test collector (``tests/collector/trace_collector.c``, compiled here with the
   system C compiler): zenopt's ranges (PyTorch's ITT domain, its main process) are counted
   from its log, apart from the tasks other libraries open through the same hook (oneDNN: one
   per primitive). The collector writes a line per event, so this run's timings carry its
   cost: its verdict is not used.
2. Trace cost: ``--rounds`` rounds (10), the kinds' order rotated each round, of ``--pairs``
   (100,000) ``with span(...)`` push/pop pairs per kind (off, itt, nvtx), no collector named;
   ns per pair, median (min–max) over rounds; times the default job's ranges, against its
   wall time.
3. Instructions per inference of PyTorch eager FP32, ONNX Runtime FP32 and the chosen model
   of a finished, untraced ``make run`` (``--run``, default ``runs/default``), at batch 1 and
   256, 3 counted blocks each, all in one valgrind process, 1 thread
   (``zenopt.profile.instructions``).
4. Time ratios at 1 thread, as counted: the three models loaded once and timed in 7
   interleaved rounds (``time_session``: p50 latency of 200 calls at batch 1, throughput of
   20 calls at batch 256, the order rotated each round); ratio per round, median and 95%
   interval of the log-ratios.

    .venv/bin/python benchmarks/bench_instructions.py     # about 30 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.core.config import load_config
from zenopt.flow.analysis import deployables
from zenopt.flow.context import baseline_files
from zenopt.flow.data import prepare_data
from zenopt.profile.instructions import CountedModel, count_instructions
from zenopt.profile.latency import make_batch
from zenopt.profile.noise import SystemProbe
from zenopt.profile.session import SessionPlan, log_interval, time_session
from zenopt.profile.trace import configure_trace, span

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 256)


def traced_default_job(out: Path) -> dict[str, Any]:
    """The default job under the test collector: its wall time and its ranges."""
    with tempfile.TemporaryDirectory() as tmp:
        lib, log = Path(tmp) / "libtrace_collector.so", Path(tmp) / "itt.log"
        source = ROOT / "tests" / "collector" / "trace_collector.c"
        subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(lib), str(source)], check=True)
        env = {**os.environ, "INTEL_LIBITTNOTIFY64": str(lib), "ZENOPT_TRACE_LOG": str(log)}
        command = [sys.executable, "-m", "zenopt", "run", "--config", "examples/digits.yaml"]
        command += ["--out", str(out), "--overwrite", "-q", "--trace", "itt"]
        tick = time.perf_counter()
        subprocess.run(command, env=env, cwd=ROOT, check=False)
        wall = time.perf_counter() - tick
        lines = [line.split(" ", 5) for line in log.read_text().splitlines()]
    begins = [x for x in lines if x[1] == "B"]
    main = next(int(b[2]) for b in begins if b[4] == "PyTorch" and b[5] == "run")
    ours = sum(1 for b in begins if int(b[2]) == main and b[4] == "PyTorch")
    return {"wall_s": wall, "ranges": ours, "other_tasks": len(begins) - ours}


def trace_cost(rounds: int, pairs: int) -> dict[str, list[float]]:
    """ns per ``with span(...)`` pair for each kind, one figure per round."""
    for name in ("INTEL_LIBITTNOTIFY64", "NVTX_INJECTION64_PATH"):
        os.environ.pop(name, None)
    kinds = ["off", "itt", "nvtx"]
    out: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in kinds[r % 3 :] + kinds[: r % 3]:
            configure_trace(kind)
            tick = time.perf_counter_ns()
            for _ in range(pairs):
                with span("time deployed b1"):
                    pass
            out[kind].append((time.perf_counter_ns() - tick) / pairs)
    configure_trace("off")
    return out


def models_of(run: Path) -> tuple[list[Any], Any]:
    manifest = json.loads((run / "manifest.json").read_text())
    config = load_config(run / "config.yaml")
    pool = prepare_data(config).prepared.splits.test.X
    return deployables(manifest, run, baseline_files(run), 1), pool


def instructions(models: list[Any], pool: Any) -> dict[str, Any]:
    counted = [
        CountedModel(m.label, m.runtime, m.path, {b: {"x": make_batch(pool, b)} for b in BATCHES})
        for m in models
    ]
    return count_instructions(counted, list(BATCHES), 3)


def time_ratios(models: list[Any], pool: Any, rounds: int) -> dict[str, Any]:
    plan = SessionPlan(1, 50, 256, rounds, repeats=200, throughput_repeats=20)
    named = {m.label: (m.runtime, m.path, 1) for m in models}
    times = time_session(named, pool, plan, SystemProbe())
    out: dict[str, Any] = {"load": [round(x.busy_elsewhere, 2) for x in times.load]}
    for label in named:
        for base in ("torch FP32", "onnxruntime FP32"):
            if base == label:
                continue
            pairs = zip(times.latency_ms[base], times.latency_ms[label], strict=True)
            lat = [b / m for b, m in pairs]
            pairs = zip(times.throughput[base], times.throughput[label], strict=True)
            tp = [m / b for b, m in pairs]
            out[f"{label} vs {base}"] = {"b1": log_interval(lat), "b256": log_interval(tp)}
    return out


def _cpu() -> str:
    text = Path("/proc/cpuinfo").read_text()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.machine()


def _flags() -> str:
    text = Path("/proc/cpuinfo").read_text()
    found = sorted(set(re.findall(r"\b(avx2|avx512f|avx512_vnni|avx512_bf16)\b", text)))
    return " ".join(found)


def _range(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def _interval(x: Any) -> str:
    return f"{x.median:.2f}× [{x.low:.2f}, {x.high:.2f}]"


def section(job: dict[str, Any], cost: dict[str, list[float]], counts: dict[str, Any],
            times: dict[str, Any], args: argparse.Namespace) -> str:  # fmt: skip
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Instructions per inference beside time ratios; the cost of `--trace` "
        "(`bench_instructions.py`)",
        "",
        f"Measured {when} on {_cpu()} ({os.cpu_count()} "
        f"cores, flags: {_flags()}); {counts['valgrind']}. The default job (`make run`'s "
        f"config) run once with `--trace itt` under the test collector: {job['ranges']:,} "
        f"zenopt ranges in {job['wall_s']:.0f} s (and {job['other_tasks']:,} ITT tasks "
        "other libraries opened through the same hook: oneDNN, one per primitive). Counts "
        f"and times: the models of `{args.run.name}`, an untraced `make run`.",
        "",
        f"**Trace cost, no collector attached**: {args.rounds} rounds × {args.pairs:,} "
        "`with span(...)` pairs per kind, kinds rotated each round; ns per pair, median "
        "(min–max over rounds), and what the default job's ranges cost at that rate.",
        "",
        "| trace | ns per pair | default job: ranges × cost | share of its wall time |",
        "|---|--:|--:|--:|",
    ]
    for kind, values in cost.items():
        seconds = job["ranges"] * statistics.median(values) / 1e9
        share = seconds / job["wall_s"]
        lines.append(f"| {kind} | {_range(values)} | {seconds * 1e3:.2f} ms | {share:.1e} |")
    lines += [
        "",
        f"**Instructions per inference** (callgrind, 1 thread, {counts['repeats']} counted "
        "blocks per model and batch after a dropped warm-up block; spread: (largest − "
        "smallest) ÷ 2 ÷ median) **beside time ratios at 1 thread** "
        f"(one interleaved session, {args.time_rounds} rounds: p50 of 200 calls at b1, "
        "throughput of 20 calls at b256; median [95% interval] of per-round ratios). "
        "Ratios: baseline ÷ model. Under Valgrind PyTorch and ONNX Runtime run their AVX2 "
        "kernels (Valgrind has no AVX-512): the counts describe that code path.",
        "",
        "| model | batch | instructions / inference | spread | per sample "
        "| vs torch FP32: instructions | time | vs ORT FP32: instructions | time |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    models = counts["models"]
    for label, by_batch in models.items():
        for batch in BATCHES:
            row = by_batch[f"b{batch}"]
            count = row["per_inference"]
            cells = [label, str(batch), f"{count:,.0f}", f"±{100 * row['spread']:.2f}%",
                     f"{count / batch:,.0f}"]  # fmt: skip
            for base in ("torch FP32", "onnxruntime FP32"):
                if base == label:
                    cells += ["—", "—"]
                    continue
                ratio = models[base][f"b{batch}"]["per_inference"] / row["per_inference"]
                cells += [f"{ratio:.2f}×", _interval(times[f"{label} vs {base}"][f"b{batch}"])]
            lines.append("| " + " | ".join(cells) + " |")
    busy = times["load"]
    lines += [
        "",
        f"Counting took {counts['seconds']:.0f} s (one valgrind process, all models). Cores "
        f"busy elsewhere during the timed rounds: {min(busy):.2f}–{max(busy):.2f}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-instructions")
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "default")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--time-rounds", type=int, default=7)
    args = parser.parse_args()
    job = traced_default_job(args.out)
    print(f"default job: {job}", flush=True)
    cost = trace_cost(args.rounds, args.pairs)
    print({k: statistics.median(v) for k, v in cost.items()}, flush=True)
    models, pool = models_of(args.run)
    counts = instructions(models, pool)
    print(json.dumps(counts["models"], indent=1), flush=True)
    times = time_ratios(models, pool, args.time_rounds)
    text = section(job, cost, counts, times, args)
    print(text)
    write_section("instructions", text)


if __name__ == "__main__":
    main()
