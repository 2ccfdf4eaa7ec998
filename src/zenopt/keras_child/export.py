"""The child process of ``keras_source``: ``python -m zenopt.keras_child.export SRC DST``
exports a Keras 3 model file (``.keras``) or a TensorFlow SavedModel folder to the ONNX file
DST. It imports TensorFlow, which zenopt's own process never does; a failure is one line on
stderr and exit code 2."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def _keras(source: Path, target: Path) -> None:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
    except ImportError:
        _fail("Keras is not installed: pip install 'zenopt[tensorflow]'")
    import numpy as np

    model = keras.models.load_model(source, compile=False)
    inputs = getattr(model, "inputs", None) or []
    if not inputs:
        _fail(
            "the model declares no input (a subclassed keras.Model): build it with keras.Input "
            "(functional or Sequential), or give its SavedModel folder (model.export('folder'))"
        )
    if len(inputs) != 1:
        _fail(f"the model has {len(inputs)} inputs; zenopt optimizes models with one input")
    shape = [1 if d is None else int(d) for d in inputs[0].shape]
    model(np.zeros(shape, dtype="float32"))  # a loaded model is traced only once called
    export_onnx(model, target)


def export_onnx(model: Any, target: Path) -> None:
    """Keras's own ONNX export of ``model``; through a SavedModel and tf2onnx when Keras's
    export leaves stored tensors as graph inputs."""
    model.export(str(target), format="onnx", verbose=False)
    if _graph_inputs(target) > 1:  # e.g. an adapted Normalization's mean and variance
        import tempfile

        with tempfile.TemporaryDirectory(prefix="zenopt-savedmodel-") as folder:
            model.export(folder, format="tf_saved_model", verbose=False)
            _saved_model(Path(folder), target)  # tf2onnx keeps such constants in the graph


def _graph_inputs(path: Path) -> int:
    """The graph's inputs that are not stored tensors."""
    import onnx

    graph = onnx.load(str(path)).graph
    stored = {init.name for init in graph.initializer}
    return sum(1 for value in graph.input if value.name not in stored)


def _saved_model(source: Path, target: Path) -> None:
    import subprocess

    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        _fail("tf2onnx is not installed: pip install 'zenopt[tensorflow]'")
    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(source),
               "--output", str(target), "--opset", "18"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "Error" in line] or ["?"]
        _fail(f"tf2onnx: {lines[-1].strip()}")


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    try:
        (_saved_model if source.is_dir() else _keras)(source, target)
    except SystemExit:
        raise
    except Exception as exc:  # Keras's and TensorFlow's own errors, as one line
        _fail(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}")


if __name__ == "__main__":
    main()
