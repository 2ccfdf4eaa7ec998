"""Per-operator profiles: the ORT trace summary against a hand-built trace, the op types seen
against the graph ONNX Runtime actually runs, and the before/after comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from tests.onnx_graphs import optimized_graph
from torch import nn

from zenopt.profile.op_compare import compare_operators
from zenopt.profile.operators import (
    category,
    onnx_operator_profile,
    summarize_ort_trace,
    torch_operator_profile,
)


def _run(ts: int, dur: int) -> dict[str, object]:
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}


def _node(name: str, op: str, ts: int, dur: int) -> dict[str, object]:
    return {
        "cat": "Node",
        "name": f"{name}_kernel_time",
        "ts": ts,
        "dur": dur,
        "args": {"op_name": op},
    }


def test_trace_summary_drops_warmup_calls_and_averages_per_call() -> None:
    events = [
        _run(0, 1000),  # warm-up: its nodes must not count
        _node("conv1", "Conv", 10, 900),
        _run(2000, 100),
        _node("conv1", "Conv", 2010, 60),
        _node("q", "QuantizeLinear", 2070, 20),
        _run(3000, 100),
        _node("conv1", "Conv", 3010, 40),
        _node("q", "QuantizeLinear", 3050, 20),
        _node(
            "conv1",
            "Conv",
            3010,
            5,
        )
        | {"name": "conv1_fence_before"},
    ]
    table = summarize_ort_trace(events, warmup=1)
    ops = {r["op"]: r for r in table["ops"]}
    assert table["calls"] == 2
    assert ops["Conv"]["us_per_call"] == pytest.approx((60 + 40) / 2)
    assert ops["QuantizeLinear"]["us_per_call"] == pytest.approx(20)
    assert sum(r["share"] for r in table["ops"]) == pytest.approx(1.0)
    assert table["kernel_us_per_call"] == pytest.approx(70)
    assert table["wall_us_per_call"] == pytest.approx(100)
    assert table["overhead_share"] == pytest.approx(0.3)
    assert table["by_category"] == {"float compute": 50, "quantize/dequantize": 20}
    assert table["float_compute_nodes"] == ["conv1 (Conv)"]
    with pytest.raises(ValueError, match="more than 3"):
        summarize_ort_trace(events, warmup=3)


def _conv_net(path: Path) -> Path:
    """Conv 3×3 (1→8) → Relu → Flatten → Gemm (→5), input (n, 1, 8, 8)."""
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.standard_normal((8, 1, 3, 3)).astype(np.float32), "cw"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "cb"),
        numpy_helper.from_array(rng.standard_normal((5, 288)).astype(np.float32), "fw"),
        numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "fb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "conv_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _executed_op_types(path: Path, tmp: Path) -> set[str]:
    """The reference: op types of the graph ONNX Runtime runs after its optimisations."""
    return {n.op_type for n in optimized_graph(path, tmp).node}


def test_onnx_profile_sees_the_operators_the_runtime_executes(tmp_path: Path) -> None:
    path = _conv_net(tmp_path / "net.onnx")
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    table = onnx_operator_profile(path, x, threads=1, warmup=2, repeats=7)
    seen = {r["op"] for r in table["ops"]}
    assert table["calls"] == 7 and table["batch"] == 4
    # ORT drops shape-only nodes (Reshape/Flatten may run as no-ops and not be profiled).
    assert seen <= _executed_op_types(path, tmp_path)
    assert seen & {"Conv", "FusedConv"} and seen & {"Gemm", "FusedGemm", "MatMul"}
    assert 0 < table["kernel_us_per_call"] <= table["wall_us_per_call"]


def test_dynamic_int8_model_shows_int8_and_quantize_operators(tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((64, 32)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 32])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "fp32.onnx")
    quantize_dynamic(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", weight_type=QuantType.QInt8)
    x = rng.standard_normal((16, 64)).astype(np.float32)
    before = onnx_operator_profile(tmp_path / "fp32.onnx", x, 1, 2, 10)
    after = onnx_operator_profile(tmp_path / "int8.onnx", x, 1, 2, 10)
    reference = _executed_op_types(tmp_path / "int8.onnx", tmp_path)
    assert {r["op"] for r in after["ops"]} <= reference
    assert "int8 compute" in after["by_category"]
    assert after["float_compute_nodes"] == []
    cmp = compare_operators(before, after)
    assert cmp["stayed_float"] == [] and cmp["float_share"] == 0
    assert cmp["quantized"] and cmp["threads"] == {"before": 1, "after": 1}
    assert not compare_operators(before, before)["quantized"]  # "stayed in float" says nothing
    changes = {r["op"]: r["change"] for r in cmp["ops"]}
    assert changes["MatMul"] == "removed"
    assert all(changes[op] == "added" for op in {r["op"] for r in after["ops"]})


def test_torch_profile_counts_self_time_of_each_aten_operator() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = np.zeros((2, 1, 8, 8), np.float32)
    before = torch.get_num_threads()
    table = torch_operator_profile(net, x, threads=1, warmup=1, repeats=4)
    assert torch.get_num_threads() == before  # the thread count is put back
    names = {r["op"] for r in table["ops"]}
    assert any("conv" in n for n in names) and any(
        n in names for n in ("aten::addmm", "aten::linear")
    )
    assert "aten::relu" in names or "aten::clamp_min" in names
    assert sum(r["share"] for r in table["ops"]) == pytest.approx(1.0)
    assert table["calls"] == 4 and table["runtime"] == "torch"


def _table(ops: dict[str, float], wall: float) -> dict[str, object]:
    rows = [{"op": k, "category": category(k), "us_per_call": v} for k, v in ops.items()]
    by_cat: dict[str, float] = {}
    for r in rows:
        by_cat[str(r["category"])] = by_cat.get(str(r["category"]), 0.0) + float(r["us_per_call"])
    return {
        "batch": 1,
        "runtime": "onnxruntime",
        "ops": sorted(rows, key=lambda r: -float(r["us_per_call"])),
        "by_category": by_cat,
        "kernel_us_per_call": sum(ops.values()),
        "wall_us_per_call": wall,
        "float_compute_nodes": ["/fc/Gemm (Gemm)"] if "Gemm" in ops else [],
    }


def test_comparison_reports_each_operator_and_what_the_int8_model_pays() -> None:
    before = _table({"Conv": 300.0, "Gemm": 100.0, "MaxPool": 50.0}, 500.0)
    after = _table(
        {
            "QLinearConv": 60.0,
            "Gemm": 100.0,
            "MaxPool": 20.0,
            "QuantizeLinear": 15.0,
            "DequantizeLinear": 5.0,
        },
        250.0,
    )
    cmp = compare_operators(before, after)
    rows = {r["op"]: r for r in cmp["ops"]}
    assert rows["Conv"]["change"] == "removed" and rows["QLinearConv"]["change"] == "added"
    assert (
        rows["MaxPool"]["speedup"] == pytest.approx(2.5) and rows["MaxPool"]["change"] == "faster"
    )
    assert rows["Gemm"]["change"] == "same"
    assert cmp["kernel_speedup"] == pytest.approx(450 / 200)
    assert cmp["wall_speedup"] == pytest.approx(2.0)
    assert cmp["quantize_share"] == pytest.approx(20 / 200)
    assert cmp["float_share"] == pytest.approx(100 / 200)
    assert cmp["stayed_float"] == ["/fc/Gemm (Gemm)"]
    assert cmp["ops"][0]["op"] == "Conv"  # heaviest first
