"""Grouped, imbalanced data: class balancing for the rare class, and what a random split hides.

The table is ``examples/make_example_data.py``'s made-up clinic export (320 patients, 2–6
visits each, relapse on about 16% of visits; the outcome is mostly the patient's own), made
anew for each seed. Every run drops the visit number and the clinic (text, which SMOTE cannot
interpolate) and trains the same mlp.

1. Balancing: each ``data.balance`` method with ``data.group: patient_id`` (no patient on two
   sides), the rare class's recall and precision on the test split.
2. Grouped vs random split (``data.balance: class_weight``): the test score each run reports,
   and the same deployed model scored on 100 patients it has never seen (another file). The
   random split puts visits of one patient in train and test, so its reported score flatters.

Mean with a 95% t-interval over seeds, then min–max. Writes a section of benchmarks/RESULTS.md.

    make bench      # or: .venv/bin/python benchmarks/bench_grouped.py --seeds 5
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import statistics
import tempfile
from pathlib import Path

from rich.console import Console
from scipy import stats
from typer.testing import CliRunner

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.cli.app import app
from zenopt.core.config import load_config
from zenopt.flow import run_pipeline

METHODS = ("none", "class_weight", "oversample", "undersample", "smote")
EXAMPLES = Path(__file__).parents[1] / "examples"
SETTINGS = [
    "data.target=outcome",
    "data.drop=[visit, clinic]",  # smote refuses text columns: every method sees the same
    "model.name=mlp",
    "train.epochs=30",
    "bench.backends=[onnxruntime]",
    "bench.repeats=10",
    "bench.warmup=1",
    "bench.throughput_repeats=3",
    "bench.confirm_rounds=2",
    "bench.noise_retries=0",
    "analysis.operators=false",
    "analysis.scaling=false",
    "analysis.memory=false",
    "analysis.ceiling=false",
]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "examples_data", EXAMPLES / "make_example_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.clinical_visits


def _interval(values: list[float]) -> str:
    mean = statistics.mean(values)
    half = stats.t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return f"{mean:.3f} ± {half:.3f} ({min(values):.3f}–{max(values):.3f})"


def _run(folder: Path, name: str, seed: int, *sets: str) -> dict:  # type: ignore[type-arg]
    config = load_config(None, [*SETTINGS, f"seed={seed}", *sets])
    out = run_pipeline(config, folder / name, console=Console(quiet=True), quiet=True)
    return out.manifest["quality"]["test"]  # type: ignore[no-any-return]


def _accuracy_on(run: Path, data: Path) -> float:
    result = CliRunner().invoke(app, ["predict", str(run), str(data), "--out", str(run / "p.csv")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO((run / "p.csv").read_text())))
    return sum(r["prediction"] == r["label"] for r in rows) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    visits = _generator()
    balance: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in METHODS}
    splits: dict[str, tuple[list[float], list[float]]] = {
        m: ([], []) for m in ("grouped", "random")
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seed in range(args.seeds):
            data, unseen = folder / f"visits-{seed}.csv", folder / f"new-{seed}.csv"
            visits(320, seed=seed).to_csv(data, index=False)
            visits(100, seed=100 + seed).to_csv(unseen, index=False)
            for method in METHODS:
                group = ["data.group=patient_id", f"data.balance={method}"]
                test = _run(folder, f"{method}-{seed}", seed, f"data.source={data}", *group)
                balance[method][0].append(test["per_class"]["relapse"]["recall"])
                balance[method][1].append(test["per_class"]["relapse"]["precision"])
                if method == "class_weight":
                    splits["grouped"][0].append(test["accuracy"])
                    unseen_acc = _accuracy_on(folder / f"{method}-{seed}", unseen)
                    splits["grouped"][1].append(unseen_acc)
            ids = ["data.drop=[visit, clinic, patient_id]", "data.balance=class_weight"]
            test = _run(folder, f"random-{seed}", seed, f"data.source={data}", *ids)
            splits["random"][0].append(test["accuracy"])
            splits["random"][1].append(_accuracy_on(folder / f"random-{seed}", unseen))
            print(seed, {m: round(v[0][-1], 3) for m, v in balance.items()}, flush=True)
    write_section("grouped", _section(args.seeds, balance, splits))


def _section(
    seeds: int,
    balance: dict[str, tuple[list[float], list[float]]],
    splits: dict[str, tuple[list[float], list[float]]],
) -> str:
    lines = [
        "## Grouped, imbalanced table — made-up clinic visits (320 patients, ~16% relapse), mlp",
        "",
        f"{seeds} seeds (each: its own table, split and initialisation); mean ± 95% t-interval "
        "(min–max). `data.group: patient_id`, so no patient sits on two sides of a split.",
        "",
        "| data.balance | relapse recall (test) | relapse precision (test) |",
        "|---|---:|---:|",
    ]
    for method, (recalls, precisions) in balance.items():
        lines.append(f"| {method} | {_interval(recalls)} | {_interval(precisions)} |")
    lines += [
        "",
        "Grouped vs random split (`data.balance: class_weight`, the same features; the random "
        "split puts visits of one patient on both sides): the accuracy each run reports on its "
        "test split, and its deployed model's accuracy on 100 new patients.",
        "",
        "| split | reported test accuracy | accuracy on new patients | reported − new |",
        "|---|---:|---:|---:|",
    ]
    for name, (reported, new) in splits.items():
        gap = [r - n for r, n in zip(reported, new, strict=True)]
        lines.append(f"| {name} | {_interval(reported)} | {_interval(new)} | {_interval(gap)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
