"""Quantization-aware training: weights end on ONNX Runtime's int8 grid, which the exported
QDQ model then reproduces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from zenopt.compress import apply_plan, parse_plan
from zenopt.compress.qat import FakeQuantInput, FakeQuantWeight
from zenopt.flow.compress import make_context
from zenopt.testing import TrainedModel


@pytest.mark.parametrize(("per_channel", "qmax"), [(True, 127), (False, 127), (True, 64)])
def test_fake_quantized_weights_lie_on_the_symmetric_grid(per_channel: bool, qmax: int) -> None:
    weight = torch.randn(6, 4, 3, 3)
    out = FakeQuantWeight(per_channel, qmax)(weight).detach().numpy()
    w = weight.numpy()
    amax = np.abs(w).reshape(6, -1).max(axis=1) if per_channel else np.abs(w).max()
    scale = (amax / qmax).reshape(-1, 1, 1, 1) if per_channel else amax / qmax
    q = out / scale
    np.testing.assert_allclose(q, np.round(q), atol=1e-3)
    assert np.abs(q).max() <= qmax + 1e-3
    np.testing.assert_allclose(out, np.round(w / scale) * scale, atol=1e-6)


def test_fake_quant_passes_gradients_straight_through() -> None:
    weight = torch.randn(4, 3, requires_grad=True)
    FakeQuantWeight(False, 127)(weight).sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(), np.ones((4, 3)))  # type: ignore[union-attr]


def test_input_fake_quant_uses_256_levels_over_the_range() -> None:
    hook, layer = FakeQuantInput(), torch.nn.Linear(3, 3).train()
    x = torch.linspace(-1.0, 3.0, 300).reshape(100, 3)
    (out,) = hook(layer, (x,))
    assert len(torch.unique(out)) <= 256
    assert float((out - x).abs().max()) <= (4.0 / 255) / 2 + 1e-6


def test_exported_int8_weights_are_the_trained_weights(
    trained: TrainedModel, tmp_path: Path
) -> None:
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    ctx.cpu_flags = {"avx512_vnni": True}  # 8-bit weights (no reduce_range)
    state = apply_plan(
        parse_plan("qat(epochs=1, per_channel=true)"), trained.model, trained.spec, ctx
    )
    assert state.onnx is not None
    model = onnx.load_from_string(state.onnx)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    linear = state.model.net[-1].weight.detach().numpy()
    for node in model.graph.node:  # find the DequantizeLinear that feeds the last layer
        if node.op_type == "DequantizeLinear" and inits.get(node.input[0]) is not None:
            q = inits[node.input[0]].astype(np.float32)
            scale = inits[node.input[1]]
            if q.shape == linear.shape:
                deq = q * scale.reshape(-1, 1) if scale.ndim else q * scale
                np.testing.assert_allclose(deq, linear, rtol=1e-5, atol=1e-6)
                return
    pytest.fail("no int8 weight of the output layer's shape in the QDQ model")
