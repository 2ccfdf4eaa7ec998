"""A model from elsewhere: a ResNet-style CNN (residual blocks, BatchNorm) built, trained
briefly on the bundled digits at 28×28 and exported to ONNX by this benchmark, then given to
zenopt as ``model.name: onnx:FILE``; zenopt's chosen model against the anchors a user has
without zenopt:

- ONNX Runtime FP32 on the file itself;
- ONNX Runtime static INT8 with its defaults (``quantize_static``: QDQ, per-tensor, MinMax,
  calibrated on 512 training rows), the INT8-only anchor;
- Microsoft Olive's ONNX static quantization, when ``olive-ai`` installs in a separate
  environment (``--olive-python``; see ``foreign_olive.py``).

All models are timed in one interleaved session (``zenopt.profile.session``: rounds, order
rotated), with ratios per round against ORT FP32 summarised as a median and 95% interval;
accuracy on the same test rows (the run's test split), and file size.

    .venv/bin/python benchmarks/bench_foreign.py [--rounds 7] [--olive-python PATH]

``--model keras`` measures instead the classic Keras MNIST CNN that zenopt trains in Keras
(``examples/keras_mnist.py``) and its PyTorch twin ``tf_cnn`` (``foreign_keras.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import foreign_report  # type: ignore[import-not-found]
from results_file import write_section  # type: ignore[import-not-found]
from zenopt.profile.machine import inference_threads

HERE = Path(__file__).parent
sys.path.insert(1, str(HERE.parent))  # the repository root: tests.onnx_models


def _cnn(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The CNN trained on the digits (zenopt's 28×28 resize of them) and exported."""
    import torch
    from sklearn.datasets import load_digits
    from tests.onnx_models import fit_briefly  # the tests' way of training one
    from torch import nn

    from zenopt.data.images import resize_images

    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c),
            )  # fmt: skip

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x + self.body(x))

    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), Block(32),
        nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
        Block(64), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip
    digits = load_digits()
    X = resize_images(digits.images.astype(np.float32)[:, None], 28)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(digits.target)
    fit_briefly(net, Xt, yt, 4, 2e-3)
    path = folder / "resnet_digits.onnx"
    torch.onnx.export(
        net, (Xt[:2],), str(path), input_names=["image"], output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, external_data=False,
    )  # fmt: skip
    return path, {"params": sum(p.numel() for p in net.parameters()), "train_epochs": 4}


def _zenopt(model: Path, out: Path, trials: int, timeout_min: float) -> dict[str, Any]:
    """zenopt on the file: the fastest model at batch 256 within 0.5 points of accuracy (the
    efficiency search always runs, for throughput)."""
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    config = load_config(
        None,
        [f"model.name=onnx:{model}", "data.source=digits", "requirements.min_accuracy=0.9",
         "requirements.max_quality_drop=0.005", "requirements.throughput_batch=256",
         "bench.batch_sizes=[1, 256]", "compress.search.when=always",
         "compress.search.objective=throughput", f"compress.search.trials={trials}",
         f"compress.search.timeout_min={timeout_min}"],
    )  # fmt: skip
    return run_pipeline(config, out, console=Console(quiet=True), quiet=True).manifest


def _int8_default(model: Path, calibration: np.ndarray, path: Path) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    name = onnx.load(str(model)).graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.rows = iter([{name: calibration[i : i + 1]} for i in range(len(calibration))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.rows, None)

    quantize_static(str(model), str(path), Reader())  # every option at its default
    return path


def _olive(python: str | None, model: Path, calibration: np.ndarray, folder: Path) -> Any:
    """Olive's static quantization of the file, in its own environment; the quantized file,
    or why there is none."""
    if not python:
        return "not tried (no --olive-python)"
    np.save(folder / "calibration.npy", calibration)
    script, out = HERE / "foreign_olive.py", folder / "olive"
    out.mkdir()
    done = subprocess.run(  # in a folder of its own: onnx checks external data in the cwd
        [python, str(script), str(model), str(folder / "calibration.npy"), str(out)],
        capture_output=True, text=True, timeout=1800, cwd=out,
    )  # fmt: skip
    if done.returncode != 0:
        return "Olive failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:300]
    return Path(done.stdout.strip().splitlines()[-1])


def _accuracy(path: Path, X: np.ndarray, y: np.ndarray) -> float:
    from zenopt.runtime.onnx_runtime import make_session

    session = make_session(path, inference_threads(None))  # at the level the file records
    scores = session.run(None, {session.get_inputs()[0].name: X})[0]
    return float(np.mean(scores.argmax(axis=1) == y))


def _session(models: dict[str, tuple[str, Path, int]], pool: np.ndarray, rounds: int) -> Any:
    from zenopt.profile.noise import SystemProbe
    from zenopt.profile.session import SessionPlan, time_session

    plan = SessionPlan(latency_batch=1, percentile=95, throughput_batch=256, rounds=rounds,
                       repeats=200, throughput_repeats=20)  # fmt: skip
    return time_session(models, pool, plan, SystemProbe())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--timeout-min", type=float, default=3.0)
    parser.add_argument("--olive-python", default=None)
    parser.add_argument("--model", choices=["resnet", "keras"], default="resnet")
    parser.add_argument("--set", action="append", default=[], help="config override (keras)")
    args = parser.parse_args()
    if args.model == "keras":
        _keras_main(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, built = _cnn(folder)
        manifest = _zenopt(model, folder / "run", args.trials, args.timeout_min)
        X_test, y_test, calibration = _rows(folder / "run")
        models, olive = _anchors(model, calibration, folder, args.olive_python)
        threads = inference_threads(None)
        deployed = _deployed(folder / "run", manifest, threads)
        models["zenopt"] = deployed[0]
        models.update(_other_levels(models, folder))
        times = _session(models, X_test, args.rounds)
        rows = {name: {"accuracy": _accuracy(path, X_test, y_test), "bytes": path.stat().st_size}
                for name, (_, path, _) in models.items() if name != "zenopt"}  # fmt: skip
        rows["zenopt"] = {"accuracy": deployed[1], "bytes": deployed[2]}
        section = foreign_report.section(built, manifest, times, rows, olive, args.rounds)
    print(section)
    write_section("foreign", section)


def _anchors(
    model: Path, calibration: np.ndarray, folder: Path, olive_python: str | None
) -> tuple[dict[str, tuple[str, Path, int]], Any]:
    """What a user has without zenopt, on the file: ORT FP32, ORT static INT8 with its
    defaults, and Olive's static INT8 when it ran (else why not)."""
    anchors = {foreign_report.BASE: model,
               "ORT static INT8, defaults": _int8_default(model, calibration,
                                                          folder / "int8.onnx")}  # fmt: skip
    olive = _olive(olive_python, model, calibration, folder)
    if isinstance(olive, Path):
        anchors["Olive static INT8"] = olive
    threads = inference_threads(None)
    return {name: ("onnxruntime", path, threads) for name, path in anchors.items()}, olive


def _keras_main(args: Any) -> None:
    """The classic Keras CNN trained by zenopt in Keras, against the anchors on its own ONNX
    export, and its PyTorch twin ``tf_cnn`` after zenopt, all in one session."""
    import foreign_keras  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runs = {"keras": folder / "keras", "tf_cnn": folder / "tf_cnn"}
        budget = (args.trials, args.timeout_min, args.set)
        manifest = foreign_keras.run_zenopt(foreign_keras.KERAS, runs["keras"], *budget)
        twin = foreign_keras.run_zenopt("tf_cnn", runs["tf_cnn"], *budget)
        model = foreign_keras.keras_file(runs["keras"], folder)
        X_test, y_test, calibration = _rows(runs["keras"])
        models, olive = _anchors(model, calibration, folder, args.olive_python)
        threads = inference_threads(None)
        models[foreign_report.TWIN_FP32] = ("onnxruntime", runs["tf_cnn"] / "model.onnx", threads)
        ours, theirs = _deployed(runs["keras"], manifest, threads), _deployed(
            runs["tf_cnn"], twin, threads)  # fmt: skip
        models["zenopt"], models[foreign_report.TWIN] = ours[0], theirs[0]
        times = _session(models, X_test, args.rounds)
        rows = {name: {"accuracy": _accuracy(path, X_test, y_test), "bytes": path.stat().st_size}
                for name, (_, path, _) in models.items()
                if name not in ("zenopt", foreign_report.TWIN)}  # fmt: skip
        rows["zenopt"] = {"accuracy": ours[1], "bytes": ours[2]}
        rows[foreign_report.TWIN] = {"accuracy": theirs[1], "bytes": theirs[2]}
        section = foreign_report.keras_section(
            {"keras": manifest, "tf_cnn": twin}, times, rows, olive, args.rounds
        )
    print(section)
    write_section("foreign_keras", section)


def _other_levels(
    models: dict[str, tuple[str, Path, int]], folder: Path
) -> dict[str, tuple[str, Path, int]]:
    """The file and zenopt's model at the other graph optimisation level (a copy with the
    level recorded), in the same session: what that choice of the search is worth."""
    import onnx

    from zenopt.runtime.onnx_runtime import LEVEL_KEY, stamp_level

    out = {}
    for name in ("ORT FP32 (the file)", "zenopt"):
        runtime, path, threads = models[name]
        if runtime != "onnxruntime":
            continue
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        level = "all" if props.get(LEVEL_KEY, "all") != "all" else "extended"
        model = onnx.load(str(path))
        del model.metadata_props[:]
        copy = folder / f"{name.split()[0].lower()}-{level}.onnx"
        onnx.save(model, str(copy))
        stamp_level(copy, level)
        out[f"{name.split(' (')[0]}, graph level {level}"] = (runtime, copy, threads)
    return out


def _rows(run: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run's test split (rows and labels) and 512 of its training rows (calibration)."""
    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data

    config = RunConfig.model_validate(json.loads((run / "manifest.json").read_text())["config"])
    splits = prepare_data(config).prepared.splits
    return (splits.test.X.astype(np.float32), splits.test.y,
            splits.train.X[:512].astype(np.float32))  # fmt: skip


def _deployed(
    run: Path, manifest: dict[str, Any], threads: int
) -> tuple[tuple[str, Path, int], float, int]:
    """The model zenopt deployed (runtime, file, threads), its test accuracy as the run
    confirmed it, and its file's size."""
    from zenopt.runtime.deployed import resolve_model

    _, deployed = resolve_model(run, True)
    path = deployed.file(deployed.runtime)
    accuracy = float(manifest["quality"]["test"]["accuracy"])  # the deployed model's
    return (deployed.runtime, path, deployed.threads or threads), accuracy, path.stat().st_size


if __name__ == "__main__":
    main()
