"""zenopt's ONNX → PyTorch converter, operator by operator, against ONNX Runtime: each case is
a one- or two-node graph built with onnx.helper, run by ONNX Runtime and by the converted
module on the same random input; the outputs must agree to float32 precision."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from zenopt.models.onnx_graph import OnnxGraphModule, describe
from zenopt.models.onnx_ops import OPS

RNG = np.random.default_rng(0)


def _const(name: str, array: np.ndarray) -> Any:
    return numpy_helper.from_array(array, name)


def _graph(
    nodes: list[Any], in_shape: list[Any], out_shape: list[Any], inits: list[Any] | None = None,
    opset: int = 18,
) -> Any:  # fmt: skip
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    if out_shape is not None:  # (the checker wants a shape; ONNX Runtime infers it)
        onnx.checker.check_model(model)
    return model


def _agree(model: Any, x: np.ndarray) -> OnnxGraphModule:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = session.run(None, {"x": x})[0]
    graph, weights = describe(model, "x")
    net = OnnxGraphModule(graph, rows=False).eval()
    net.load_state_dict(weights, strict=True)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    return net


def _w(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype(np.float32)


IMAGE = ["N", 3, 9, 9]


def _conv_cases() -> list[tuple[str, list[Any], list[Any]]]:
    weight, bias = _w(4, 3, 3, 3), _w(4)
    cases = []
    for label, attrs in {
        "plain": {},
        "pads": {"pads": [1, 1, 1, 1]},
        "asymmetric pads": {"pads": [0, 1, 1, 0]},
        "stride 2": {"strides": [2, 2], "pads": [1, 1, 1, 1]},
        "dilation": {"dilations": [2, 2]},
        "same": {"auto_pad": "SAME_UPPER"},
    }.items():
        node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
        cases.append((f"Conv {label}", [node], [_const("w", weight), _const("b", bias)]))
    grouped = helper.make_node("Conv", ["x", "wg"], ["y"], group=3)
    cases.append(("Conv depthwise", [grouped], [_const("wg", _w(3, 1, 3, 3))]))
    return cases


def _simple(op: str, **attrs: Any) -> tuple[str, list[Any], list[Any]]:
    return op, [helper.make_node(op, ["x"], ["y"], **attrs)], []


CASES: list[tuple[str, list[Any], list[Any]]] = [
    *_conv_cases(),
    ("BatchNormalization", [helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"],
                                             ["y"], epsilon=1e-3)],
     [_const("s", _w(3)), _const("bb", _w(3)), _const("m", _w(3)),
      _const("v", np.abs(_w(3)) + 0.5)]),
    *(_simple(op) for op in ("Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Erf", "Softsign",
                             "HardSwish", "Identity", "GlobalAveragePool", "GlobalMaxPool")),
    _simple("LeakyRelu", alpha=0.3),
    _simple("Elu", alpha=0.7),
    _simple("HardSigmoid", alpha=0.3, beta=0.4),
    _simple("Softmax", axis=1),
    _simple("LogSoftmax", axis=-1),
    _simple("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    _simple("MaxPool", kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
    _simple("MaxPool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    _simple("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    _simple("AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
    _simple("Transpose", perm=[0, 2, 3, 1]),
    ("ReduceMean", [helper.make_node("ReduceMean", ["x", "ax"], ["y"], keepdims=0)],
     [_const("ax", np.array([2, 3], np.int64))]),
    ("Clip", [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
     [_const("lo", np.array(-0.5, np.float32)), _const("hi", np.array(0.6, np.float32))]),
    ("Add+Mul constants", [helper.make_node("Add", ["x", "k"], ["t"]),
                           helper.make_node("Mul", ["t", "k"], ["y"])],
     [_const("k", _w(3, 1, 1))]),
    ("Div+Sub+Pow", [helper.make_node("Div", ["x", "k2"], ["t"]),
                     helper.make_node("Sub", ["t", "k2"], ["u"]),
                     helper.make_node("Pow", ["u", "two"], ["y"])],
     [_const("k2", np.abs(_w(9)) + 1), _const("two", np.array(2.0, np.float32))]),
    ("Flatten", [helper.make_node("Flatten", ["x"], ["y"], axis=1)], []),
    ("Reshape as torch writes flatten", [helper.make_node("Reshape", ["x", "s"], ["y"])],
     [_const("s", np.array([-1, 243], np.int64))]),
    ("Reshape with 0", [helper.make_node("Reshape", ["x", "s"], ["y"])],
     [_const("s", np.array([0, 3, -1], np.int64))]),
    ("Shape→Gather→Unsqueeze→Concat→Reshape", [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axis0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"])],
     [_const("zero", np.array(0, np.int64)), _const("axis0", np.array([0], np.int64)),
      _const("minus1", np.array([-1], np.int64))]),
    ("Pad", [helper.make_node("Pad", ["x", "p"], ["y"], mode="constant")],
     [_const("p", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64))]),
    ("Concat of tensors", [helper.make_node("Relu", ["x"], ["r"]),
                           helper.make_node("Concat", ["x", "r"], ["y"], axis=1)], []),
    ("Pad reflect", [helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")],
     [_const("p", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64))]),
    ("Pad edge", [helper.make_node("Pad", ["x", "p"], ["y"], mode="edge")],
     [_const("p", np.array([0, 0, 0, 1, 0, 0, 0, 2], np.int64))]),
    ("Gather, negative axis and indices", [helper.make_node("Gather", ["x", "ix"], ["y"], axis=-1)],
     [_const("ix", np.array([-1, 0, 3], np.int64))]),
    ("Clip without bounds", [helper.make_node("Clip", ["x"], ["y"])], []),
    ("Shape→Gather→Cast→Reshape", [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Cast", ["n"], ["nc"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["nc", "axis0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"])],
     [_const("zero", np.array(0, np.int64)), _const("axis0", np.array([0], np.int64)),
      _const("minus1", np.array([-1], np.int64))]),
    ("Slice with axes and steps", [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
     [_const("st", np.array([1, -7], np.int64)), _const("en", np.array([9, 2**62], np.int64)),
      _const("ax", np.array([2, -1], np.int64)), _const("sp", np.array([2, 3], np.int64))]),
    ("Slice of a shape (Keras's flatten)", [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Slice", ["sh", "s0", "s1"], ["n"]),
        helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"])],
     [_const("s0", np.array([0], np.int64)), _const("s1", np.array([1], np.int64)),
      _const("minus1", np.array([-1], np.int64))]),
    ("Squeeze+Unsqueeze", [helper.make_node("Unsqueeze", ["x", "a1"], ["u"]),
                           helper.make_node("Squeeze", ["u", "a1"], ["y"])],
     [_const("a1", np.array([1], np.int64))]),
]  # fmt: skip


@pytest.mark.parametrize(("label", "nodes", "inits"), CASES, ids=[c[0] for c in CASES])
def test_each_operator_agrees_with_onnx_runtime(
    label: str, nodes: list[Any], inits: list[Any]
) -> None:
    x = RNG.normal(size=(5, 3, 9, 9)).astype(np.float32)
    _agree(_graph(nodes, IMAGE, None, inits), x)  # type: ignore[arg-type]


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_and_matmul_become_linear_layers(trans_b: int) -> None:
    weight = _w(6, 4) if trans_b else _w(4, 6)
    gemm = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=trans_b)
    net = _agree(_graph([gemm], ["N", 4], ["N", 6], [_const("w", weight), _const("b", _w(6))]),
                 _w(7, 4))  # fmt: skip
    assert [type(m).__name__ for m in net.layers.values()] == ["Linear"]
    matmul = [
        helper.make_node("MatMul", ["x", "w"], ["t"]),
        helper.make_node("Add", ["t", "b"], ["y"]),
    ]
    net = _agree(_graph(matmul, ["N", 4], ["N", 6], [_const("w", _w(4, 6)), _const("b", _w(6))]),
                 _w(7, 4))  # fmt: skip
    (linear,) = net.layers.values()
    assert isinstance(linear, torch.nn.Linear) and linear.bias is not None  # the Add fused in


def test_an_unconverted_operator_is_named() -> None:
    from zenopt.core.errors import ModelError

    node = helper.make_node("Einsum", ["x", "x"], ["y"], equation="ij,ij->ij")
    with pytest.raises(ModelError, match=r"converter lacks the operator\(s\) Einsum"):
        describe(_graph([node], ["N", 4], ["N", 4]), "x")
    assert "Conv" in OPS and "Einsum" not in OPS


def test_a_constant_in_any_form_and_an_old_softmax() -> None:
    value = helper.make_node("Constant", [], ["k"], value_float=0.5)
    mul = helper.make_node("Mul", ["x", "k"], ["t"])
    soft = helper.make_node("Softmax", ["t"], ["y"])  # opset 12: axis 1 by default
    _agree(_graph([value, mul, soft], ["N", 6], ["N", 6], opset=12), _w(4, 6))


def _dense(*tail: Any) -> list[Any]:
    return [helper.make_node("MatMul", ["x", "w"], ["s"]), *tail]


@pytest.mark.parametrize(
    ("tail", "op"),
    [
        ([helper.make_node("Softmax", ["s"], ["y"], axis=1)], "Softmax"),
        ([helper.make_node("Softmax", ["s"], ["p"], axis=-1),
          helper.make_node("Flatten", ["p"], ["y"])], "Softmax"),
        ([helper.make_node("Sigmoid", ["s"], ["y"])], "Sigmoid"),
    ],
)  # fmt: skip
def test_the_output_activation_is_dropped_where_it_makes_the_output(
    tail: list[Any], op: str
) -> None:
    width = 1 if op == "Sigmoid" else 5
    model = _graph(_dense(*tail), ["N", 4], ["N", width], [_const("w", _w(4, width))])
    graph, weights = describe(model, "x", op)
    assert graph["dropped_activation"] == op
    net = OnnxGraphModule(graph).eval()
    net.load_state_dict(weights)
    x = _w(6, 4)
    with torch.no_grad():
        scores = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(
        scores, x @ numpy_helper.to_array(model.graph.initializer[0]), rtol=1e-5, atol=1e-5
    )  # the logits, before the activation
    axis0 = _graph(_dense(helper.make_node("Softmax", ["s"], ["y"], axis=0)), ["N", 4], ["N", 5],
                   [_const("w", _w(4, 5))])  # fmt: skip
    assert describe(axis0, "x", "Softmax")[0]["dropped_activation"] is None  # not the classes


def test_layers_whose_channels_are_read_unevenly_are_left_whole() -> None:
    """Conv → Transpose → flatten (a Keras-style head) and Conv → Mul by a per-channel
    constant: those convs must keep their channels; a Conv → Relu → Conv chain may not."""
    conv = lambda name, i, o, w: helper.make_node("Conv", [i, w], [o], name=name)  # noqa: E731
    nodes = [
        conv("a", "x", "ya", "wa"), helper.make_node("Relu", ["ya"], ["ra"]),
        conv("b", "ra", "yb", "wb"), helper.make_node("Mul", ["yb", "per_channel"], ["mb"]),
        conv("c", "mb", "yc", "wc"),
        helper.make_node("Transpose", ["yc"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Flatten", ["t"], ["y"]),
    ]  # fmt: skip
    inits = [_const("wa", _w(4, 3, 3, 3)), _const("wb", _w(4, 4, 3, 3)),
             _const("wc", _w(2, 4, 3, 3)), _const("per_channel", _w(4, 1, 1))]  # fmt: skip
    model = _graph(nodes, IMAGE, None, inits)  # type: ignore[arg-type]
    graph, _ = describe(model, "x")
    by_node = {s["layer"]: n for s, n in zip(graph["steps"], "a.b.c...", strict=False)
               if "layer" in s}  # fmt: skip
    assert sorted(by_node[key] for key in graph["unprunable"]) == ["b", "c"]
    _agree(model, RNG.normal(size=(2, 3, 9, 9)).astype(np.float32))


def test_an_output_of_one_value_per_row_is_two_dimensional() -> None:
    model = _graph([helper.make_node("MatMul", ["x", "w"], ["s"]),
                    helper.make_node("Squeeze", ["s", "one"], ["y"])], ["N", 4], ["N"],
                   [_const("w", _w(4, 1)), _const("one", np.array([1], np.int64))])  # fmt: skip
    graph, weights = describe(model, "x")
    net = OnnxGraphModule(graph).eval()
    net.load_state_dict(weights)
    assert tuple(net(torch.zeros(3, 4)).shape) == (3, 1)
