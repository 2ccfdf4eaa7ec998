"""Side-by-side benchmark: PyTorch eager vs ONNX Runtime on the default model (mnist_cnn 28×28).

Speed does not depend on the weights' values, so the untrained network is measured. The two
runtimes are measured in alternating rounds in one process, so that machine noise hits both
alike; the result is the ratio of medians per round, reported as the median over rounds with
its spread. Writes benchmarks/RESULTS.md.

    make bench            # or: .venv/bin/python benchmarks/bench_runtimes.py --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.models import DeployableModel, ModelSpec, build_model, save_deployable
from zenopt.profile import default_threads, fingerprint, measure_calls
from zenopt.runtime import create_predictor
from zenopt.runtime.export import export_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200, help="timed calls per round at batch 1")
    parser.add_argument("--threads", type=int, default=default_threads())
    args = parser.parse_args()

    torch.manual_seed(0)
    shape = (1, 28, 28)
    net = build_model("mnist_cnn", shape, 10, {})
    model = DeployableModel(net)
    spec = ModelSpec("mnist_cnn", {}, shape, 10, "softmax", "multiclass")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = save_deployable(model.eval(), spec, folder)
        onnx_path = export_onnx(model, shape, folder / "model.onnx")
        predictors = {
            "torch": create_predictor("torch"),
            "onnxruntime": create_predictor("onnxruntime"),
        }
        predictors["torch"].load(paths["spec"], args.threads)
        predictors["onnxruntime"].load(onnx_path, args.threads)
        rng = np.random.default_rng(0)
        rows = []
        for batch, calls in ((1, args.calls), (64, max(10, args.calls // 10))):
            x = rng.normal(size=(batch, *shape)).astype(np.float32)
            medians: dict[str, list[float]] = {name: [] for name in predictors}
            for _ in range(args.rounds):
                for name, predictor in predictors.items():
                    samples = measure_calls(predictor.predict, x, warmup=10, repeats=calls)
                    medians[name].append(float(np.median(samples)))
            ratios = [t / o for t, o in zip(medians["torch"], medians["onnxruntime"], strict=True)]
            rows.append((batch, calls, medians, ratios))
    env = fingerprint()
    lines = [
        "## PyTorch eager vs ONNX Runtime — mnist_cnn, 1×28×28, FP32",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {env['cpu_model']} "
        f"({env['affinity_cores']} usable cores, {args.threads} threads), torch "
        f"{env['libraries']['torch']}, onnxruntime {env['libraries']['onnxruntime']}. "
        f"{args.rounds} alternating rounds; each round times every runtime after 10 warm-up calls.",
        "",
        "| batch | calls/round | torch median ms (min–max over rounds) | onnxruntime median ms "
        "(min–max) | speed-up of ORT (median, min–max) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for batch, calls, medians, ratios in rows:
        t, o = medians["torch"], medians["onnxruntime"]
        lines.append(
            f"| {batch} | {calls} | {statistics.median(t):.3f} ({min(t):.3f}–{max(t):.3f}) | "
            f"{statistics.median(o):.3f} ({min(o):.3f}–{max(o):.3f}) | "
            f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) |"
        )
    lines += [
        "",
        "Reproduce with `make bench`. Numbers are from this machine only; compare ratios, not "
        "absolute times, across machines.",
        "",
    ]
    write_section("runtimes", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
