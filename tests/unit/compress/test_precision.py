"""Low precision is kept only where measured faster (timings are injected here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from zenopt.compress import apply_plan, parse_plan, precision
from zenopt.flow.compress import make_context
from zenopt.testing import TrainedModel


def _fake_timings(monkeypatch: pytest.MonkeyPatch, fp32: float, low: float) -> None:
    calls = iter([fp32, low])

    def medians(predict: object, pool: np.ndarray) -> dict[int, float]:
        value = next(calls)
        return {b: value for b in precision.BATCHES}

    monkeypatch.setattr(precision, "_medians", medians)


@pytest.mark.parametrize(("fp32", "low", "kept"), [(1.0, 0.5, True), (1.0, 2.0, False)])
def test_fp16_is_kept_only_when_faster(
    monkeypatch: pytest.MonkeyPatch,
    trained: TrainedModel,
    tmp_path: Path,
    fp32: float,
    low: float,
    kept: bool,
) -> None:
    _fake_timings(monkeypatch, fp32, low)
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    state = apply_plan(parse_plan("precision(dtype=fp16)"), trained.model, trained.spec, ctx)
    assert state.notes[-1]["kept"] is kept
    if kept:
        assert state.onnx is not None
        types = {i.data_type for i in onnx.load_from_string(state.onnx).graph.initializer}
        assert onnx.TensorProto.FLOAT16 in types
    else:
        assert state.onnx is None
        assert "dropped" in state.notes[-1]["why"]


@pytest.mark.parametrize(
    ("fp32", "low", "precision_kept"), [(1.0, 0.5, "bf16"), (1.0, 2.0, "fp32")]
)
def test_bf16_is_kept_only_when_faster(
    monkeypatch: pytest.MonkeyPatch,
    trained: TrainedModel,
    tmp_path: Path,
    fp32: float,
    low: float,
    precision_kept: str,
) -> None:
    _fake_timings(monkeypatch, fp32, low)
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    plan = parse_plan("precision(dtype=bf16) -> runtime(name=torch)")
    state = apply_plan(plan, trained.model, trained.spec, ctx)
    assert state.spec.precision == precision_kept
    assert state.runtime == "torch"


def test_bf16_cannot_end_in_onnxruntime(trained: TrainedModel, tmp_path: Path) -> None:
    from zenopt.core.errors import ConfigError

    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    plan = parse_plan("precision(dtype=bf16, keep=always) -> runtime(name=onnxruntime)")
    with pytest.raises(ConfigError, match="bf16 runs in PyTorch"):
        apply_plan(plan, trained.model, trained.spec, ctx)
