"""How fast does the quality loop reach a target? TPE + median pruning vs random search
without pruning, side by side over several seeds.

The task: digits at its native 8×8, the mlp, the default search space, and a validation
accuracy of 0.985 (at most 4 errors in 270), which random search reaches in a median of about
6 trials. For each seed every search starts from the same data split; each stops at the first
trial that meets the target on the validation split, or after the trial budget. Two more rows
(TPE without pruning, random with pruning) separate the sampler's effect from the pruner's.
Reported per method: trials until the target (the median over seeds; a search that never
reached it counts as budget + 1), epochs trained in all (the pruner's saving), wall time, and
how often the target was reached. Writes a section of benchmarks/RESULTS.md.

    make bench      # or: .venv/bin/python benchmarks/bench_tuning.py --seeds 10
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.core.config import load_config
from zenopt.flow import RunContext
from zenopt.flow.data import prepare_data
from zenopt.flow.tune import run_quality_loop

# The first and last rows are the comparison asked for; the middle two separate the sampler's
# effect from the pruner's.
METHODS = {
    "TPE + median pruning": ["tune.sampler=tpe", "tune.pruner=median"],
    "TPE, no pruning": ["tune.sampler=tpe", "tune.pruner=none"],
    "random + median pruning": ["tune.sampler=random", "tune.pruner=median"],
    "random, no pruning": ["tune.sampler=random", "tune.pruner=none"],
}


def search(seed: int, target: float, budget: int, extra: list[str]) -> dict[str, Any]:
    config = load_config(
        None,
        [
            "data.source=digits",
            "data.resize=8",
            "model.name=mlp",
            f"seed={seed}",
            f"requirements.min_accuracy={target}",
            f"tune.trials={budget}",
            "tune.timeout_min=null",
            *extra,
        ],
    )
    stage = prepare_data(config)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        ctx = RunContext(config, stage, Path(folder), Console(quiet=True), quiet=True)
        result = run_quality_loop(ctx)
    seconds = time.perf_counter() - started
    summary = result.summary
    met = summary["stopped"] == "target met on validation"
    return {
        "met": met,
        "trials": summary["counts"]["counted"] if met else budget + 1,
        "pruned": summary["counts"]["pruned"],
        "epochs": sum(t["epochs_reported"] for t in summary["trials"]),
        "seconds": seconds,
    }


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):g} ({min(values):g}–{max(values):g})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.985)
    parser.add_argument("--budget", type=int, default=60)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in METHODS}
    for seed in range(args.seeds):
        for name, extra in METHODS.items():  # alternate, so machine load hits both alike
            outcome = search(seed, args.target, args.budget, extra)
            rows[name].append(outcome)
            print(f"seed {seed} · {name}: {outcome}", flush=True)
    lines = [
        "## Quality loop: trials to reach a target, TPE + pruning vs random search",
        "",
        f"digits 8×8, `mlp`, default search space, target validation accuracy ≥ {args.target}, "
        f"budget {args.budget} trials, seeds 0–{args.seeds - 1} (the same split for every "
        "method per seed). Median (min–max) over seeds; a search that missed counts as budget + 1.",
        "",
        "| search | trials to target | reached | pruned trials | epochs trained | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for name, outcomes in rows.items():
        lines.append(
            f"| {name} | {_median([o['trials'] for o in outcomes])} "
            f"| {sum(o['met'] for o in outcomes)}/{len(outcomes)} "
            f"| {_median([o['pruned'] for o in outcomes])} "
            f"| {_median([o['epochs'] for o in outcomes])} "
            f"| {_median([round(o['seconds'], 1) for o in outcomes])} |"
        )
    first, last = next(iter(METHODS)), list(METHODS)[-1]
    per_seed = ", ".join(
        f"seed {i}: {rows[first][i]['trials']} vs {rows[last][i]['trials']}"
        for i in range(args.seeds)
    )
    lines += ["", f"Trials per seed ({first} vs {last}): {per_seed}."]
    write_section("bench_tuning", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
