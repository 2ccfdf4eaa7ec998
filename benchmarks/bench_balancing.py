"""Does class balancing help the minority class? breast_cancer made 1:10, five seeds each.

All 357 benign rows are kept and the malignant ones are cut to 36 (1:10). Each balancing method
trains the same mlp with the same settings; the table gives the minority (malignant) recall and
macro F1 on the held-out test split, as mean and min–max over seeds. Writes a section of
benchmarks/RESULTS.md.

    make bench      # or: .venv/bin/python benchmarks/bench_balancing.py --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from sklearn.datasets import load_breast_cancer

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.core.config import load_config
from zenopt.flow import run_pipeline

METHODS = ("none", "class_weight", "oversample", "undersample", "smote")


def imbalanced(folder: Path, ratio: int = 10, seed: int = 0) -> Path:
    bunch = load_breast_cancer()
    X, y = bunch.data, 1 - bunch.target  # 1 = malignant, the minority
    rng = np.random.default_rng(seed)
    minority = np.flatnonzero(y == 1)
    keep = np.concatenate(
        [np.flatnonzero(y == 0), rng.choice(minority, (y == 0).sum() // ratio, replace=False)]
    )
    path = folder / "breast_cancer_1to10.npz"
    np.savez(path, X=X[keep], y=y[keep])
    return path


def _spread(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = imbalanced(Path(tmp))
        rows = []
        for method in METHODS:
            recalls, f1s = [], []
            for seed in range(args.seeds):
                config = load_config(
                    None,
                    [
                        f"data.source={data}",
                        "model.name=mlp",
                        f"data.balance={method}",
                        f"seed={seed}",
                        "train.epochs=40",
                        "bench.repeats=10",
                        "bench.warmup=1",
                        "bench.throughput_repeats=3",
                        "bench.backends=[onnxruntime]",
                    ],
                )
                out = run_pipeline(
                    config, Path(tmp) / f"{method}-{seed}", console=Console(quiet=True), quiet=True
                )
                test = out.manifest["quality"]["test"]
                recalls.append(test["per_class"]["1"]["recall"])
                f1s.append(test["f1_macro"])
            rows.append((method, recalls, f1s))
            print(method, [round(r, 3) for r in recalls], flush=True)
    lines = [
        "## Class balancing — breast_cancer cut to 1:10 (357 benign, 35 malignant), mlp",
        "",
        f"{args.seeds} seeds per method (each seed: its own split and initialisation); test split "
        "only. Minority = malignant.",
        "",
        "| data.balance | minority recall, mean (min–max) | macro F1, mean (min–max) |",
        "|---|---:|---:|",
    ]
    for method, recalls, f1s in rows:
        lines.append(f"| {method} | {_spread(recalls)} | {_spread(f1s)} |")
    write_section("balancing", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
