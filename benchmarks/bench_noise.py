"""Does the final speed confirmation hold up, and does its noise guard fire when it should?

The default job's deployed model, PyTorch eager FP32 and ONNX Runtime FP32 are timed in the
run's final confirmation (one interleaved session, ``bench.confirm_rounds`` rounds, the order
rotated every round) twice: (a) with nothing else running, (b) with a bounded single-threaded
CPU hog (one core) started outside this process tree. No retries, so each session is what it
measured. Reported per headline figure: median and 95% interval in both, whether the intervals
overlap, whether each figure was marked noisy. Target: quiet intervals within ±10% of their
centre, and the flag fires in (b). Writes a section of benchmarks/RESULTS.md.

    make bench      # or: .venv/bin/python benchmarks/bench_noise.py [--run runs/default]

Without ``--run``, the default job is run first with its plan fixed to the one its search
chose here (``PLAN``), to save the search's minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.core.config import load_config
from zenopt.core.rundir import read_manifest
from zenopt.flow import RunOptions, run_pipeline
from zenopt.flow.compress import CompressOptions, load_finished_run
from zenopt.flow.speed import SpeedConfirmation, confirm_speed
from zenopt.profile.machine import fingerprint
from zenopt.runtime.deployed import deployed_model

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "digits.yaml"
PLAN = (
    "[{method: prune, ratio: 0.5, importance: taylor}, {method: distill}, "
    "{method: quantize, mode: static}]"
)
HOG_S = 120  # the hog ends on its own even if this script is killed


def default_run(folder: Path) -> Path:
    config = load_config(CONFIG, [f"compress.plan={PLAN}", "tune.when=never"])
    run_pipeline(config, folder, quiet=True, options=RunOptions(overwrite=True))
    return folder


def session(run: Path, threads: int | None) -> SpeedConfirmation:
    """The run's final confirmation, with ``threads`` for every model (None: as the run)."""
    sets = ["bench.noise_retries=0"] + ([f"bench.threads={threads}"] if threads else [])
    config = load_config(run / "config.yaml", sets)
    ctx, trained = load_finished_run(run, config, Console(quiet=True), CompressOptions())
    deployed = deployed_model(run, read_manifest(run))
    if threads:
        deployed = dataclasses.replace(deployed, threads=threads)
    return confirm_speed(ctx, trained, deployed)


def start_hog() -> None:
    """One busy core, started through a shell that exits at once, so that the hog is not in
    this process tree (whose CPU time the guard counts as the run's own)."""
    loop = (
        f"import time; zenopt_bench_hog = time.time() + {HOG_S}\n"
        "while time.time() < zenopt_bench_hog: pass"
    )
    subprocess.run(["sh", "-c", f'"{sys.executable}" -c "{loop}" >/dev/null 2>&1 &'], check=True)
    time.sleep(0.5)


def stop_hog() -> None:
    subprocess.run(["pkill", "-f", "zenopt_bench_hog"], check=False)


def _cell(f: dict[str, Any]) -> str:
    return f"{f['median']:.4g} ({f['low']:.4g}–{f['high']:.4g}, ±{100 * f['spread']:.1f}%)"


def table(quiet: SpeedConfirmation, busy: SpeedConfirmation) -> list[str]:
    lines = [
        "| figure | (a) quiet: median (95% CI, spread) | (b) one core busy | overlap | "
        "noisy in (a) | noisy in (b) |",
        "|---|---|---|---|---|---|",
    ]
    for name, a in quiet.figures.items():
        b = busy.figures[name]
        overlap = a["low"] <= b["high"] and b["low"] <= a["high"]
        lines.append(
            f"| {name} | {_cell(a)} | {_cell(b)} | {'yes' if overlap else 'no'} | "
            f"{a['noisy'] or '—'} | {b['noisy'] or '—'} |"
        )
    return lines


def verdict(quiet: SpeedConfirmation, busy: SpeedConfirmation) -> str:
    spreads = [f["spread"] for f in quiet.figures.values()]
    within = all(s <= 0.10 for s in spreads)
    fired = any(f["noisy"] for f in busy.figures.values())
    silent = not any(f["noisy"] for f in quiet.figures.values())
    busy_a = max(quiet.session["attempts"][-1]["rounds_busy_elsewhere"])
    busy_b = max(busy.session["attempts"][-1]["rounds_busy_elsewhere"])
    return (
        f"Quiet intervals within ±10% of their centre: **{'yes' if within else 'no'}** "
        f"(widest ±{100 * max(spreads):.1f}%). The flag fired with the hog: "
        f"**{'yes' if fired else 'no'}**; it stayed silent when quiet: "
        f"**{'yes' if silent else 'no'}**. Most cores busy elsewhere in a round: "
        f"{busy_a:.2f} quiet, {busy_b:.2f} with the hog."
    )


def measure(run: Path, threads: int | None) -> tuple[SpeedConfirmation, SpeedConfirmation]:
    quiet = session(run, threads)
    start_hog()
    try:
        busy = session(run, threads)
    finally:
        stop_hog()
    return quiet, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished run of the default job")
    args = parser.parse_args()
    console = Console(stderr=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-noise-") as tmp:
        run = args.run or default_run(Path(tmp) / "run")
        for threads in (None, 1):
            results[threads] = measure(run, threads)
    env = fingerprint()
    flags = [f for f, on in env["cpu_flags"].items() if on]
    quiet = results[None][0]
    lines = [
        "## The final speed confirmation, quiet and busy (`bench_noise.py`)",
        "",
        f"{env['cpu_model']}, {env['physical_cores']} physical cores, flags: "
        f"{', '.join(flags)}. The default job's deployed model "
        f"({quiet.session['deployed_as']}) beside PyTorch eager FP32 and ONNX Runtime FP32: "
        f"{quiet.session['rounds']} interleaved rounds, {quiet.session['latency']} "
        f"({quiet.session['calls_per_round']['latency']} calls per round) and "
        f"{quiet.session['throughput']} throughput "
        f"({quiet.session['calls_per_round']['throughput']} calls); median over rounds and "
        "the 95% t interval of the per-round log-ratios; no retries. (b): a single-threaded "
        "busy loop outside the run's process tree. Measured with every model at the run's "
        f"thread count ({quiet.session['models']['torch FP32']['threads']}) and again at 1.",
    ]
    for threads, (q, b) in results.items():
        title = "the run's threads" if threads is None else f"{threads} thread"
        lines += ["", f"### {title}", "", *table(q, b), "", verdict(q, b)]
    write_section("bench_noise", "\n".join(lines))
    console.print("\n".join(lines))


if __name__ == "__main__":
    main()
