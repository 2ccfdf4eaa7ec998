"""What is served: the model's name, whether its outputs depend on the batch (read from the
ONNX graph), and the padding of shape-specialised runtimes, against plain NumPy."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from zenopt.core.errors import ConfigError
from zenopt.runtime.onnx_runtime import OnnxRuntimePredictor
from zenopt.serve.model import (
    LoadedRuntime,
    batch_dependence,
    inline_rows,
    model_name,
    padded_sizes,
)


def _graph(path: Path, op: str) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    if op == "DynamicQuantizeLinear":
        outs = [helper.make_tensor_value_info(n, t, s) for n, t, s in
                (("y", TensorProto.UINT8, ["batch", 4]), ("s", TensorProto.FLOAT, []),
                 ("z", TensorProto.UINT8, []))]  # fmt: skip
        node = helper.make_node(op, ["x"], ["y", "s", "z"])
    else:
        outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])]
        node = helper.make_node(op, ["x"], ["y"])
    onnx.save(helper.make_model(helper.make_graph([node], "g", [x], outs)), path)
    return path


def test_dynamic_int8_graphs_are_batch_dependent(tmp_path: Path) -> None:
    reason = batch_dependence(_graph(tmp_path / "dyn.onnx", "DynamicQuantizeLinear"))
    assert reason is not None and "one scale per runtime call" in reason
    assert batch_dependence(_graph(tmp_path / "relu.onnx", "Relu")) is None
    assert batch_dependence(None) is None


def test_model_names() -> None:
    manifest = {"model": {"name": "pkg.models:small_cnn"}}
    assert model_name(manifest, None) == "pkg.models_small_cnn"
    assert model_name({"model": {"name": ".hidden"}}, None) == "model_.hidden"
    assert model_name(manifest, "digits-v2") == "digits-v2"
    for bad in ("..", "my model", "a/b", "-x"):
        with pytest.raises(ConfigError, match="--name"):
            model_name(manifest, bad)


@pytest.mark.parametrize("max_batch", [1, 7, 64, 1000])
def test_padded_sizes_cover_every_batch_within_8_sizes(max_batch: int) -> None:
    sizes = padded_sizes(max_batch)
    assert sizes[0] == 1 and sizes[-1] == max_batch and len(sizes) <= 8
    assert list(sizes) == sorted(set(sizes))


class _Recording:
    name, threads = "fake", 1

    def __init__(self) -> None:
        self.shapes: list[int] = []

    def load(self, path: Path, threads: int) -> None: ...

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.shapes.append(len(x))
        out: np.ndarray = x.sum(axis=1, keepdims=True) * 2
        return out

    def close(self) -> None: ...


def test_padding_runs_fixed_sizes_and_returns_only_the_real_rows() -> None:
    fake = _Recording()
    loaded = LoadedRuntime(fake, ThreadPoolExecutor(1), padded_sizes(64))
    rng = np.random.default_rng(0)
    for rows in (1, 3, 12, 64):
        X = rng.normal(size=(rows, 5)).astype(np.float32)
        np.testing.assert_allclose(loaded.run(X), X.sum(axis=1, keepdims=True) * 2, rtol=1e-6)
    assert set(fake.shapes) <= set(padded_sizes(64))
    assert fake.shapes == [1, 3, 20, 64]
    loaded.close()


class _Slow(OnnxRuntimePredictor):
    """An ONNX Runtime model whose call takes 1 ms plus 0.1 ms a row."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        import time

        time.sleep(0.001 + 0.0001 * len(x))
        out: np.ndarray = x.sum(axis=1, keepdims=True)
        return out


@pytest.mark.parametrize(
    ("inline_s", "expected"), [(0.0, (0, 0)), (0.0005, (0, 0)), (0.0035, (5, 25)), (1.0, (64, 64))]
)
def test_inline_rows_are_those_the_model_answers_within_the_limit(
    inline_s: float, expected: tuple[int, int]
) -> None:
    loaded = LoadedRuntime(_Slow(), ThreadPoolExecutor(1))
    rows = inline_rows(loaded, (5,), 64, inline_s)
    assert expected[0] <= rows <= expected[1]  # sleep overshoots: a range, not a number
    loaded.close()


def test_other_runtimes_never_run_inline() -> None:
    for sizes in (None, padded_sizes(64)):  # PyTorch eager; a runtime compiled per shape
        loaded = LoadedRuntime(_Recording(), ThreadPoolExecutor(1), sizes)
        assert inline_rows(loaded, (5,), 64, 1.0) == 0
        loaded.close()


def test_the_server_s_sessions_do_not_spin(tmp_path: Path) -> None:
    """--no-spin (the default) reaches ONNX Runtime's session options; --spin keeps its own
    default (spinning)."""
    graph = _graph(tmp_path / "m.onnx", "Relu")
    key = "session.intra_op.allow_spinning"
    for spinning in (False, True):
        predictor = OnnxRuntimePredictor()
        predictor.spinning = spinning
        predictor.load(graph, 2)
        options = predictor.session_.get_session_options()
        if spinning:  # ONNX Runtime's default: no entry, which means spin
            with pytest.raises(RuntimeError, match="does not have configuration"):
                options.get_session_config_entry(key)
        else:
            assert options.get_session_config_entry(key) == "0"
