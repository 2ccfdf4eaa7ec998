"""ONNX Runtime's graph optimisation level as the search chooses it: recorded in the model
file, and every session zenopt opens on the file (``make_session``) uses it; the outputs stay
those of the default level."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from zenopt.core.errors import RuntimeBackendError
from zenopt.runtime.onnx_runtime import LEVEL_KEY, make_session, recorded_level, stamp_level

LEVELS = ort.GraphOptimizationLevel


def _conv_file(path: Path) -> Path:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]  # fmt: skip
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 8, 8])],
        initializer=[numpy_helper.from_array(rng.normal(size=(8, 3, 3, 3)).astype("f4"), "w")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_a_session_opens_the_file_at_the_level_it_records(tmp_path: Path) -> None:
    path = _conv_file(tmp_path / "m.onnx")
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32)
    default = make_session(path, 1)
    assert default.get_session_options().graph_optimization_level == LEVELS.ORT_ENABLE_ALL
    before = path.read_bytes()
    stamp_level(path, "all")  # the default: nothing recorded, the file unchanged
    assert path.read_bytes() == before
    stamp_level(path, "extended")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props == {LEVEL_KEY: "extended"}
    session = make_session(path, 1)
    assert session.get_session_options().graph_optimization_level == LEVELS.ORT_ENABLE_EXTENDED
    np.testing.assert_allclose(
        session.run(None, {"x": x})[0], default.run(None, {"x": x})[0], rtol=1e-5, atol=1e-5
    )
    stamp_level(path, "basic")  # stamped again: one entry, the new level
    assert [p.value for p in onnx.load(str(path)).metadata_props] == ["basic"]
    explicit = make_session(path, 1, level="none")  # an explicit level wins over the file's
    assert explicit.get_session_options().graph_optimization_level == LEVELS.ORT_DISABLE_ALL
    stamp_level(path, "all")  # back to the default: the entry goes
    assert recorded_level(path) == "all" and not onnx.load(str(path)).metadata_props


def test_an_unknown_recorded_level_is_one_line(tmp_path: Path) -> None:
    path = _conv_file(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    model.metadata_props.add(key=LEVEL_KEY, value="turbo")
    onnx.save(model, str(path))
    with pytest.raises(RuntimeBackendError, match="'turbo' is not one of all, extended"):
        make_session(path, 1)
