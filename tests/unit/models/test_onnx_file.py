"""A model kept as its ONNX graph (``models/onnx_file.py``): it computes what ONNX Runtime
computes on the file, its export writes the run's fitted input transform in front of the
graph as ONNX operators (checked against the PyTorch transform and the file run on the
transformed rows), its final activation is dropped the way the converter drops it, and it
survives the run folder's safetensors and a deep copy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from zenopt.models import DeployableModel, ModelSpec, load_deployable, save_deployable
from zenopt.models.input_transform import InputTransform
from zenopt.models.onnx_file import OnnxFileModule, drop_final_activation, export_graph

RNG = np.random.default_rng(3)


def _file(tail: list[Any], width: int, in_shape: list[Any], opset: int = 18) -> Any:
    """x (in_shape) → Flatten → MatMul → Selu (an operator the converter lacks) → tail."""
    features = int(np.prod([d for d in in_shape[1:]]))
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["s"]),
        helper.make_node("Selu", ["s"], ["z" if tail else "y"]),
        *tail,
    ]
    weight = RNG.normal(size=(features, width)).astype(np.float32)
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


def _ort(model: Any, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(None, {session.get_inputs()[0].name: x})[0]
    return out


def test_it_computes_what_onnx_runtime_computes_and_keeps_no_session_in_copies() -> None:
    model = _file([], 5, ["N", 6])
    net = OnnxFileModule.of(model.SerializeToString(), None, "lacks Selu")
    x = RNG.normal(size=(7, 6)).astype(np.float32)
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, _ort(model, x))
    twin = copy.deepcopy(net)  # apply_plan copies the model: the ORT session is not copied
    assert twin._session is None
    np.testing.assert_array_equal(twin(torch.from_numpy(x)).numpy(), got)


def _full_transform(features: int) -> InputTransform:
    """Every step the fitted transform can have, with values that matter."""
    kept = np.array([0, 2, 3, 5], dtype=np.int64)
    return InputTransform({
        "fill": RNG.normal(size=features), "clip_lo": -np.ones(features) * 1.5,
        "clip_hi": np.ones(features) * 1.5, "center": RNG.normal(size=features),
        "scale": RNG.uniform(0.5, 2.0, size=features), "select": kept,
        "pca_mean": RNG.normal(size=len(kept)), "pca_components": RNG.normal(size=(3, len(kept))),
    })  # fmt: skip


def test_the_export_applies_the_fitted_transform_as_the_pytorch_model_does(
    tmp_path: Path,
) -> None:
    model = _file([], 4, ["N", 3])
    transform = _full_transform(6)
    deployable = DeployableModel(OnnxFileModule.of(model.SerializeToString(), None, "r"),
                                 transform, output_mean=2.0, output_std=3.0).eval()  # fmt: skip
    x = RNG.normal(size=(9, 6)).astype(np.float32) * 2
    x[1, 0] = x[4, 3] = np.nan  # filled by the transform
    path = export_graph(deployable, (6,), tmp_path / "m.onnx")
    exported = onnx.load(str(path))
    onnx.checker.check_model(exported)
    assert exported.graph.input[0].name == "input"
    got = _ort(exported, x)
    with torch.no_grad():
        rows = transform(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, deployable(torch.from_numpy(x)).numpy(), rtol=1e-5)
    np.testing.assert_allclose(got, _ort(model, rows) * 3.0 + 2.0, rtol=1e-5, atol=1e-5)


def test_a_channels_last_graph_gets_a_transpose_in_front(tmp_path: Path) -> None:
    model = _file([], 3, ["N", 4, 5, 1])  # (height, width, channels)
    net = OnnxFileModule.of(model.SerializeToString(), [0, 2, 3, 1], "r")
    deployable = DeployableModel(net).eval()
    x = RNG.normal(size=(5, 1, 4, 5)).astype(np.float32)  # the data: channels first
    exported = onnx.load(str(export_graph(deployable, (1, 4, 5), tmp_path / "m.onnx")))
    want = _ort(model, np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
    np.testing.assert_array_equal(_ort(exported, x), want)
    np.testing.assert_array_equal(deployable(torch.from_numpy(x)).detach().numpy(), want)
    assert [d.dim_value for d in exported.graph.input[0].type.tensor_type.shape.dim[1:]] == [
        1,
        4,
        5,
    ]


@pytest.mark.parametrize(
    ("tail", "activation", "dropped"),
    [
        ([helper.make_node("Softmax", ["z"], ["y"], axis=-1)], "Softmax", "Softmax"),
        ([helper.make_node("Softmax", ["z"], ["p"], axis=1),
          helper.make_node("Identity", ["p"], ["y"])], "Softmax", "Softmax"),
        ([helper.make_node("Softmax", ["z"], ["y"], axis=0)], "Softmax", None),  # not classes
        ([helper.make_node("Sigmoid", ["z"], ["y"])], "Sigmoid", "Sigmoid"),
        ([helper.make_node("Sigmoid", ["z"], ["y"])], "Softmax", None),  # not what the head is
    ],
)  # fmt: skip
def test_the_final_activation_is_dropped_as_the_converter_drops_it(
    tail: list[Any], activation: str, dropped: str | None
) -> None:
    model = _file(tail, 4, ["N", 6])
    x = RNG.normal(size=(5, 6)).astype(np.float32)
    want = _ort(model, x)
    assert drop_final_activation(model, activation) == dropped
    got = _ort(model, x)
    if dropped is None:
        np.testing.assert_array_equal(got, want)
        return
    back = (
        1 / (1 + np.exp(-got))
        if dropped == "Sigmoid"
        else np.exp(got) / np.exp(got).sum(1, keepdims=True)
    )
    np.testing.assert_allclose(back, want, rtol=1e-5, atol=1e-6)  # the scores before it


def test_it_travels_in_the_run_folder_as_safetensors(tmp_path: Path) -> None:
    model = _file([], 5, ["N", 6])
    data = model.SerializeToString()
    net = OnnxFileModule.of(data, None, "lacks Selu")
    spec = ModelSpec(name="onnx_file", params={"size": len(data), "permute": None,
                     "reason": "lacks Selu"}, input_shape=(6,), num_outputs=5,
                     head="softmax", task="classification")  # fmt: skip
    save_deployable(DeployableModel(net).eval(), spec, tmp_path)
    loaded, _ = load_deployable(tmp_path)
    x = RNG.normal(size=(4, 6)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(loaded(torch.from_numpy(x)).numpy(), _ort(model, x))
    assert loaded.net.reason == "lacks Selu"


def _pool_file(path: Path, auto_pad: str) -> str:
    """x (1×5×5) → MaxPool 2/2 (``auto_pad``) → Flatten → MatMul: with SAME_UPPER the pooling
    pads to 3×3, which zenopt's converter does not do."""
    side = 3 if auto_pad == "SAME_UPPER" else 2
    pool = {"auto_pad": auto_pad} if auto_pad != "NOTSET" else {}
    nodes = [
        helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2], **pool),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["y"]),
    ]
    weight = RNG.normal(size=(side * side, 4)).astype(np.float32)
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return f"onnx:{path}"


def test_a_graph_converted_unfaithfully_is_kept_as_its_graph(tmp_path: Path) -> None:
    from zenopt.models.onnx_source import conversion_gap, load_onnx_model

    assert conversion_gap(_pool_file(tmp_path / "plain.onnx", "NOTSET")) is None
    same = _pool_file(tmp_path / "same.onnx", "SAME_UPPER")
    gap = conversion_gap(same)
    assert gap is not None and "PyTorch conversion" in gap  # fails, or differs from ORT
    X = RNG.normal(size=(6, 1, 5, 5)).astype(np.float32)
    loaded = load_onnx_model(same, (1, 5, 5), "classification", 4, X)  # the run's model
    assert isinstance(loaded.net, OnnxFileModule) and loaded.graph["graph_only"] == gap
    with torch.no_grad():
        got = loaded.net(torch.from_numpy(X)).numpy()
    np.testing.assert_array_equal(got, _ort(onnx.load(same[len("onnx:") :]), X))
    log = helper.make_graph(
        [helper.make_node("Log", ["x"], ["l"]), helper.make_node("MatMul", ["l", "w"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(RNG.normal(size=(6, 2)).astype("f4"), "w")],
    )  # fmt: skip
    log_model = helper.make_model(log, opset_imports=[helper.make_opsetid("", 18)])
    log_model.ir_version = 9
    onnx.save(log_model, str(tmp_path / "log.onnx"))  # NaN on negative rows, in both
    assert conversion_gap(f"onnx:{tmp_path / 'log.onnx'}") is None
    lacking = _file([], 4, ["N", 6])  # Selu: an operator the converter lacks
    onnx.save(lacking, str(tmp_path / "selu.onnx"))
    assert "lacks the operator(s) Selu" in str(conversion_gap(f"onnx:{tmp_path / 'selu.onnx'}"))


def test_names_the_graph_uses_are_not_taken_again(tmp_path: Path) -> None:
    """A graph that already uses ``input`` and zenopt's own names inside (one zenopt wrote)
    still exports to a file ONNX Runtime loads, with the transform in front."""
    from zenopt.runtime.onnx_runtime import LEVEL_KEY

    nodes = [
        helper.make_node("MatMul", ["x", "zenopt_input_constant"], ["input"], "zenopt_input_Sub"),
        helper.make_node("Relu", ["input"], ["zenopt_input"]),
        helper.make_node("Identity", ["zenopt_input"], ["y"]),
    ]
    weight = RNG.normal(size=(3, 2)).astype(np.float32)
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(weight, "zenopt_input_constant")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    model.metadata_props.add(key=LEVEL_KEY, value="extended")  # a level the file carried
    center, scale = RNG.normal(size=3), RNG.uniform(1, 2, size=3)
    transform = InputTransform({"center": center, "scale": scale})
    net = OnnxFileModule.of(model.SerializeToString(), None, "r")
    path = export_graph(DeployableModel(net, transform, 1.0, 2.0).eval(), (3,), tmp_path / "m.onnx")
    exported = onnx.load(str(path))
    onnx.checker.check_model(exported)
    assert LEVEL_KEY not in {p.key for p in exported.metadata_props}  # a plan records its own
    x = RNG.normal(size=(5, 3)).astype(np.float32)
    want = _ort(model, ((x - center) / scale).astype(np.float32)) * 2.0 + 1.0
    np.testing.assert_allclose(_ort(exported, x), want, rtol=1e-5, atol=1e-5)
