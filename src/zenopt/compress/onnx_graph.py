"""Small ONNX graph edits the ONNX Runtime quantizers need, and the FP32 export of a state."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from zenopt.compress._base import CompressState
from zenopt.core.errors import ConfigError
from zenopt.runtime.export import export_onnx

__all__ = [
    "conv_input_channels",
    "export_state",
    "gemm_to_matmul",
    "prepare_for_quantization",
    "quantized_ops",
    "quiet_quantizer",
    "select_nodes",
]


def export_state(state: CompressState, path: Path) -> Path:
    """The ONNX form of ``state``: its bytes if a step made one, else an FP32 export."""
    if state.onnx is not None:
        path.write_bytes(state.onnx)
        return path
    return export_onnx(state.model, state.spec.input_shape, path)


@contextlib.contextmanager
def quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's quantization tools log through the root logger and print; silence both
    while they run, and put the root logger's level back after."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def prepare_for_quantization(src: Path, dst: Path) -> Path:
    """Shape inference and graph optimisation, as ONNX Runtime recommends before quantizing."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with quiet_quantizer():
        quant_pre_process(str(src), str(dst))
    return dst


def conv_input_channels(model: onnx.ModelProto) -> dict[str, int]:
    """Input channels of each Conv node (weight dim 1 × groups), by node name."""
    weights = {init.name: list(init.dims) for init in model.graph.initializer}
    out: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in weights:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            out[node.name] = int(weights[node.input[1]][1]) * int(group)
    return out


def gemm_to_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite plain ``Gemm`` nodes (alpha = beta = 1, no transA) as ``MatMul`` + ``Add``.

    ONNX Runtime's dynamic quantization has an integer kernel for MatMul but not for Gemm,
    which is what a ``torch.nn.Linear`` exports to.
    """
    inits = {init.name: init for init in model.graph.initializer}
    nodes: list[Any] = []
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = (
            node.op_type == "Gemm"
            and attrs.get("alpha", 1.0) == 1.0
            and attrs.get("beta", 1.0) == 1.0
            and not attrs.get("transA", 0)
            and node.input[1] in inits
        )
        if not plain:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            weight = np.ascontiguousarray(weight.T)
        name = f"{node.input[1]}_matmul"
        model.graph.initializer.append(numpy_helper.from_array(weight, name))
        has_bias = len(node.input) > 2 and node.input[2] != ""
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], node.name))
        if has_bias:
            nodes.append(
                helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], f"{node.name}_bias"
                )
            )
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return model


def select_nodes(model: onnx.ModelProto, patterns: list[str], label: str) -> list[str]:
    """Node names matching ``patterns`` (a node name or an op type each); unknown ones fail."""
    names = {node.name for node in model.graph.node}
    ops = {node.op_type for node in model.graph.node}
    unknown = [p for p in patterns if p not in names and p not in ops]
    if unknown:
        raise ConfigError(
            f"compress.plan: {label}: keep_float {unknown[0]!r} is neither a node name nor an "
            f"op type of this model (op types: {', '.join(sorted(ops))})"
        )
    return [n.name for n in model.graph.node if n.name in patterns or n.op_type in patterns]


# Compute operators a quantizer turns into integer arithmetic, and the ones it leaves.
COMPUTE_OPS = {"Conv", "MatMul", "Gemm", "ConvTranspose"}
INTEGER_OPS = {
    "QLinearConv",
    "QLinearMatMul",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
    "QGemm",
}


def quantized_ops(model: onnx.ModelProto) -> dict[str, int]:
    """How many compute operators the graph runs in integer arithmetic, and how many in
    float. In the QDQ format a quantized Conv or MatMul reads a DequantizeLinear output (ONNX
    Runtime fuses the pair into an integer kernel); the other formats have integer ops."""
    dequantized = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    quantized = floating = 0
    for node in model.graph.node:
        if node.op_type in INTEGER_OPS:
            quantized += 1
        elif node.op_type in COMPUTE_OPS:
            if any(name in dequantized for name in node.input):
                quantized += 1
            else:
                floating += 1
    return {"quantized_ops": quantized, "float_ops": floating}
