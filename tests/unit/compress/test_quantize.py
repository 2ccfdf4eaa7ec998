"""ONNX Runtime INT8: graph rewrite, types chosen from the CPU, kept-float nodes, accuracy."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from zenopt.compress import apply_plan, parse_plan
from zenopt.compress.onnx_graph import conv_input_channels, gemm_to_matmul
from zenopt.compress.quantize import resolve_types
from zenopt.core.compress_config import Quantize
from zenopt.core.errors import ConfigError
from zenopt.flow.compress import make_context
from zenopt.runtime.export import export_onnx
from zenopt.runtime.onnx_runtime import make_session
from zenopt.testing import TrainedModel


def _run(path: Path, X: np.ndarray) -> np.ndarray:
    session = make_session(path, 1)
    return session.run(None, {session.get_inputs()[0].name: X})[0]


@pytest.fixture(scope="module")
def fp32_onnx(trained: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fp32")
    return export_onnx(trained.model, trained.spec.input_shape, folder / "fp32.onnx")


def test_gemm_rewrite_keeps_the_outputs(
    trained: TrainedModel, fp32_onnx: Path, tmp_path: Path
) -> None:
    model = onnx.load(str(fp32_onnx))
    assert any(n.op_type == "Gemm" for n in model.graph.node)
    rewritten = gemm_to_matmul(model)
    assert not any(n.op_type == "Gemm" for n in rewritten.graph.node)
    onnx.save(rewritten, str(tmp_path / "matmul.onnx"))
    X = trained.stage.prepared.splits.test.X
    np.testing.assert_allclose(
        _run(tmp_path / "matmul.onnx", X), _run(fp32_onnx, X), rtol=1e-5, atol=1e-5
    )


def test_conv_input_channels(fp32_onnx: Path) -> None:
    channels = sorted(conv_input_channels(onnx.load(str(fp32_onnx))).values())
    assert channels == [1, 32]


@pytest.mark.parametrize(
    ("flags", "reduce_range"),
    [({"avx512_vnni": True}, False), ({"avx_vnni": True}, False), ({"avx2": True}, True)],
)
def test_types_follow_the_cpu(
    flags: dict[str, bool], reduce_range: bool, trained: TrainedModel, tmp_path: Path
) -> None:
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    ctx.cpu_flags = flags
    assert resolve_types(Quantize(), ctx) == {
        "activation_type": "uint8",
        "weight_type": "int8",
        "reduce_range": reduce_range,
    }
    assert resolve_types(Quantize(reduce_range=False), ctx)["reduce_range"] is False


def _static(trained: TrainedModel, tmp_path: Path, plan: str) -> onnx.ModelProto:
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    state = apply_plan(parse_plan(plan), trained.model, trained.spec, ctx)
    assert state.onnx is not None
    (tmp_path / "int8.onnx").write_bytes(state.onnx)
    return onnx.load(str(tmp_path / "int8.onnx"))


def test_static_int8_keeps_the_image_conv_in_float_and_agrees_with_fp32(
    trained: TrainedModel, fp32_onnx: Path, tmp_path: Path
) -> None:
    model = _static(trained, tmp_path, "quantize(mode=static)")
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    quantized_weights = [w for w in weights.values() if w.dtype == np.int8 and w.ndim >= 2]
    assert len(quantized_weights) == 3  # second conv and both linear layers
    float_convs = [  # a Conv whose weight is a float initializer, not a DequantizeLinear output
        n
        for n in model.graph.node
        if n.op_type == "Conv" and weights.get(n.input[1], np.int8(0)).dtype == np.float32
    ]
    assert len(float_convs) == 1 and weights[float_convs[0].input[1]].shape[1] == 1
    X = trained.stage.prepared.splits.test.X
    int8, fp32 = _run(tmp_path / "int8.onnx", X), _run(fp32_onnx, X)
    assert np.mean(int8.argmax(1) == fp32.argmax(1)) >= 0.97
    # Quantize → dequantize error bound: outputs move by a small part of their range.
    assert np.abs(int8 - fp32).max() < 0.1 * (fp32.max() - fp32.min())


def test_keep_float_by_op_type(trained: TrainedModel, tmp_path: Path) -> None:
    level = logging.getLogger().level
    model = _static(trained, tmp_path, "quantize(keep_float=[Conv])")
    assert logging.getLogger().level == level  # the quantizer's silencing is undone
    int8 = [
        i
        for i in model.graph.initializer
        if i.data_type == onnx.TensorProto.INT8 and len(i.dims) >= 2
    ]
    assert len(int8) == 2  # only the two linear layers' weight matrices


def test_keep_float_unknown_name_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keep_float 'no_such_node' is neither a node name"):
        _static(trained, tmp_path, "quantize(keep_float=[no_such_node])")


def test_dynamic_quantizes_matmuls_only(trained: TrainedModel, tmp_path: Path) -> None:
    model = _static(trained, tmp_path, "quantize(mode=dynamic)")
    ops = {n.op_type for n in model.graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops or "MatMulIntegerToFloat" in ops
    assert "ConvInteger" not in ops and "Gemm" not in ops


def test_quantizing_twice_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    state = apply_plan(parse_plan("quantize"), trained.model, trained.spec, ctx)
    from zenopt.compress import handler_for

    with pytest.raises(ConfigError, match="already quantized"):
        handler_for(Quantize())(Quantize(), state, ctx)


def test_a_graph_the_quantizer_cannot_take_is_one_line(
    trained: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ONNX Runtime's quantizer raising its own error (here: made to, as it does on graphs it
    cannot handle) becomes one line that names the step and what still applies."""
    import onnxruntime.quantization as ortq

    from zenopt.core.errors import ModelError

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Unable to find data type for weight_name='w'\nmore lines")

    monkeypatch.setattr(ortq, "quantize_static", refuse)
    with pytest.raises(ModelError) as caught:
        _static(trained, tmp_path, "quantize(mode=static)")
    text = str(caught.value)
    assert "\n" not in text and "cannot quantize this graph" in text
    assert "RuntimeError: Unable to find data type" in text and "precision(dtype=fp16)" in text
