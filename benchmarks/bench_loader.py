"""Does training wait on data? zenopt's in-memory loader vs a per-sample torch DataLoader.

On digits at 28×28 (the default job), it measures samples/second of (a) zenopt's loader — an
index slice of tensors prepared once, (b) the same with on-the-fly shift+rotate augmentation,
(c) torch.utils.data.DataLoader over a TensorDataset (per-sample __getitem__ and collate, the
usual recipe), and (d) the mnist_cnn training step. Each is measured over full epochs, in
alternating rounds; the table gives medians with their spread and the ratio to the step.
Writes a section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.core.config import DataConfig
from zenopt.data import load_dataset
from zenopt.data.augment import BatchAugmenter
from zenopt.models import build_model
from zenopt.train.losses import task_loss

BATCH = 64


def _epoch_rate(run_epoch: Callable[[], int]) -> float:
    start = time.perf_counter()
    n = run_epoch()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    ds = load_dataset(DataConfig(source="digits"))
    X = torch.from_numpy(((ds.X - ds.X.mean()) / ds.X.std()).astype(np.float32))
    y = torch.from_numpy(ds.y)
    n = X.shape[0]
    augmenter = BatchAugmenter(["shift", "rotate"], seed=0)
    model = build_model("mnist_cnn", (1, 28, 28), 10, {})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(X, y), batch_size=BATCH, shuffle=True)

    def slices(augment: bool) -> int:
        order = torch.randperm(n)
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            xb = X[idx]
            _ = augmenter(xb) if augment else xb
        return n

    def torch_loader() -> int:
        for _xb, _yb in loader:
            pass
        return n

    def steps() -> int:
        model.train()
        for start in range(0, n, BATCH):
            xb, yb = X[start : start + BATCH], y[start : start + BATCH]
            optimizer.zero_grad()
            task_loss(model(xb), yb, "cross_entropy").backward()
            optimizer.step()
        return n

    cases = {
        "zenopt loader (index slice)": lambda: slices(False),
        "zenopt loader + shift/rotate augmentation": lambda: slices(True),
        "torch DataLoader(TensorDataset), per sample": torch_loader,
        "mnist_cnn training step (forward+backward+Adam)": steps,
    }
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, case in cases.items():
            rates[name].append(_epoch_rate(case))
    step = statistics.median(rates["mnist_cnn training step (forward+backward+Adam)"])
    lines = [
        f"## Input pipeline — digits 1×28×28, batch {BATCH}, {n} samples per epoch",
        "",
        f"{args.rounds} alternating rounds of one full epoch each, torch threads "
        f"{torch.get_num_threads()}. Ratio = samples/s ÷ the training step's samples/s "
        "(above 1: the step never waits on the loader).",
        "",
        "| what | samples/s, median (min–max) | ratio to the step |",
        "|---|---:|---:|",
    ]
    for name, values in rates.items():
        median = statistics.median(values)
        lines.append(
            f"| {name} | {median:,.0f} ({min(values):,.0f}–{max(values):,.0f}) | "
            f"{median / step:.1f}× |"
        )
    write_section("loader", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
