"""The shared suite every compression technique passes.

A technique (or plan) is a :class:`TechniqueCase`: the plan text and the quality bound it
states for a small trained model (digits at 8×8, the MNIST CNN, a few epochs). The checks:

- the output shape is preserved;
- test accuracy stays within the stated bound of the baseline's;
- the saved form (model.json + safetensors, and model.onnx) reloads to identical outputs;
- applying it twice with the same seed gives identical outputs;
- bad settings (a ratio >= 1, an unknown method or setting) fail with a one-line ConfigError.

A case is applied once (:func:`apply_case`) and the result shared by the checks; see
``tests/unit/compress/test_technique_suite.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from zenopt.compress import CompressState, apply_plan, parse_plan
from zenopt.compress.candidate import deploy_path, save_candidate
from zenopt.core.config import RunConfig, load_config
from zenopt.core.errors import ConfigError
from zenopt.evaluate.quality import predict_torch
from zenopt.flow.compress import make_context
from zenopt.flow.data import DataStage, prepare_data
from zenopt.flow.train import build, train
from zenopt.models import DeployableModel, ModelSpec
from zenopt.runtime.predictor import predict_with_backend
from zenopt.runtime.torch_eager import run_torch

__all__ = [
    "SMALL_RUN",
    "Applied",
    "TechniqueCase",
    "TrainedModel",
    "apply_case",
    "check_bad_settings",
    "check_deterministic",
    "check_output_shape",
    "check_quality",
    "check_round_trip",
    "train_small_model",
]

# A model small enough to train in seconds that still has convolutions and linear layers.
SMALL_RUN = [
    "data.source=digits",
    "data.resize=8",
    "model.name=mnist_cnn",
    "train.epochs=8",
    "train.lr=0.003",
    "seed=0",
]


@dataclass(frozen=True)
class TechniqueCase:
    plan: str
    max_accuracy_drop: float  # the quality bound the technique states for the small model
    id: str = ""


@dataclass(frozen=True)
class TrainedModel:
    config: RunConfig
    stage: DataStage
    model: DeployableModel
    spec: ModelSpec


@dataclass(frozen=True)
class Applied:
    """A case applied once: the state in memory, its saved folder and the saved form's
    outputs on the test split (reloaded in the state's runtime)."""

    case: TechniqueCase
    state: CompressState
    folder: Path
    outputs: np.ndarray


def train_small_model() -> TrainedModel:
    config = load_config(None, SMALL_RUN)
    stage = prepare_data(config)
    net, spec = build(config, stage.dataset, stage.prepared)
    model, _, extra = train(config, stage.dataset, stage.prepared, net)
    spec = extra.pop("spec", spec)
    return TrainedModel(config, stage, model, spec)


def apply_case(case: TechniqueCase, trained: TrainedModel, workdir: Path) -> Applied:
    ctx = make_context(trained.config, trained.stage, trained.model, workdir / "work")
    state = apply_plan(parse_plan(case.plan), trained.model, trained.spec, ctx)
    X = trained.stage.prepared.splits.test.X
    files = save_candidate(state, workdir / "saved", trained.stage.prepared.splits.val.X)
    runtime = state.runtime or "onnxruntime"
    outputs = predict_with_backend(runtime, deploy_path(files, runtime), X, 1)
    return Applied(case, state, workdir / "saved", outputs)


def check_output_shape(applied: Applied, trained: TrainedModel) -> None:
    X = trained.stage.prepared.splits.test.X
    assert applied.outputs.shape == predict_torch(trained.model, X).shape


def check_quality(applied: Applied, trained: TrainedModel) -> None:
    test = trained.stage.prepared.splits.test
    baseline = float(np.mean(predict_torch(trained.model, test.X).argmax(1) == test.y))
    got = float(np.mean(applied.outputs.argmax(1) == test.y))
    bound = applied.case.max_accuracy_drop
    assert got >= baseline - bound, (
        f"{applied.case.plan}: accuracy {got:.4f} vs baseline {baseline:.4f}, bound {bound}"
    )


def check_round_trip(applied: Applied, trained: TrainedModel, workdir: Path) -> None:
    """The in-memory result and its saved form, reloaded in its runtime, agree exactly."""
    X = trained.stage.prepared.splits.test.X
    state = applied.state
    if state.onnx is not None:  # the bytes in memory, run directly
        (workdir / "memory.onnx").write_bytes(state.onnx)
        in_memory = predict_with_backend("onnxruntime", workdir / "memory.onnx", X, 1)
    else:
        in_memory = _torch_outputs(state, X)
        if state.runtime == "onnxruntime":  # an FP32 export: equal to PyTorch within tolerance
            np.testing.assert_allclose(applied.outputs, in_memory, rtol=1e-4, atol=1e-4)
            in_memory = predict_with_backend("onnxruntime", applied.folder / "model.onnx", X, 1)
        else:  # PyTorch rebuilt from model.json + safetensors
            in_memory = predict_with_backend("torch", applied.folder, X, 1)
            np.testing.assert_array_equal(in_memory, _torch_outputs(state, X))
    np.testing.assert_array_equal(applied.outputs, in_memory)


def _torch_outputs(state: CompressState, X: np.ndarray) -> np.ndarray:
    return run_torch(state.model, X, state.spec.precision == "bf16")


def check_deterministic(applied: Applied, trained: TrainedModel, workdir: Path) -> None:
    """The same case applied again, with the same seed, gives the identical model: the same
    ONNX bytes when a step made them, else the same PyTorch weights (which export alike)."""
    ctx = make_context(trained.config, trained.stage, trained.model, workdir)
    again = apply_plan(parse_plan(applied.case.plan), trained.model, trained.spec, ctx)
    if applied.state.onnx is not None:
        assert again.onnx == applied.state.onnx
    first, second = applied.state.model.state_dict(), again.model.state_dict()
    assert first.keys() == second.keys() and again.spec == applied.state.spec
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name


def check_bad_settings(method: str, bad: str) -> None:
    """``bad`` is a settings text that must be refused, e.g. ``ratio=1.0``."""
    with pytest.raises(ConfigError) as info:
        parse_plan(f"{method}({bad})")
    message = str(info.value)
    assert "\n" not in message and method in message
