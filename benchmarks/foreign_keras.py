"""The Keras part of ``bench_foreign.py`` (``--model keras``): the classic TensorFlow/Keras
MNIST CNN (``examples/keras_mnist.py``), trained by zenopt with Keras's own ``fit`` on the
bundled digits at 28×28, and the same network in PyTorch (``tf_cnn``), trained by zenopt from
the same config. Each gets the same ask: the most samples/s at batch 256 within 0.5 points.

The anchors work on the Keras model's own ONNX export (Keras's ``model.export``), as a Keras
user without zenopt has it. So that every model in the one timing session takes the same rows
(raw pixels, channels first), the anchor file gets the run's fitted input scaling and the
channels-last transpose as ONNX operators in front. zenopt's deployed models carry the same
steps, and the steps are cheap beside the convolutions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KERAS = "examples.keras_mnist:classic_cnn"
# The bench's ask, replacing the example's requirements (as for the ResNet file).
_ASK = [
    "requirements.min_accuracy=0.9", "requirements.max_quality_drop=0.005",
    "requirements.max_latency_ms=null", "requirements.max_size_mb=null",
    "requirements.min_latency_speedup=null", "requirements.min_throughput_speedup=null",
    "requirements.min_size_reduction=null", "requirements.throughput_batch=256",
    "bench.batch_sizes=[1, 256]", "compress.search.when=always",
    "compress.search.objective=throughput",
]  # fmt: skip


def run_zenopt(
    model: str, out: Path, trials: int, timeout_min: float, extra: list[str]
) -> dict[str, Any]:
    """zenopt on the example's config with ``model.name=model``, under the bench's ask (and
    the ``--set`` overrides ``extra``: a smoke run's smaller budget)."""
    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    budget = [f"compress.search.trials={trials}", f"compress.search.timeout_min={timeout_min}"]
    config = load_config(
        EXAMPLES / "keras_mnist.yaml", [f"model.name={model}", *_ASK, *budget, *extra]
    )
    return run_pipeline(config, out, console=Console(quiet=True), quiet=True).manifest


def keras_file(run: Path, folder: Path) -> Path:
    """The Keras model's own ONNX export, taking the run's raw rows (channels first): the
    fitted input scaling and the transpose written in front, its softmax kept."""
    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data
    from zenopt.models import DeployableModel
    from zenopt.models.input_transform import InputTransform
    from zenopt.models.onnx_file import OnnxFileModule, export_graph

    manifest = json.loads((run / "manifest.json").read_text())
    export = Path(manifest["training"]["keras_model"]).with_suffix(".onnx")
    prepared = prepare_data(RunConfig.model_validate(manifest["config"])).prepared
    net = OnnxFileModule.of(export.read_bytes(), [0, 2, 3, 1], "the Keras export")
    model = DeployableModel(net, InputTransform(prepared.transform.arrays)).eval()
    shape = tuple(int(d) for d in prepared.splits.train.X.shape[1:])
    return export_graph(model, shape, folder / "keras_classic_cnn.onnx")


def fp32_export(run: Path) -> Path:
    """The run's FP32 ONNX export of its trained model."""
    return run / "model.onnx"
