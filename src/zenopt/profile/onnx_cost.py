"""Static cost of an ONNX graph: FLOPs per sample from shape inference, counted like PyTorch.

Only the heavy operators are counted, with 2 FLOPs per multiply-add, as
``torch.utils.flop_counter`` does for the same layers: Conv, ConvTranspose, Gemm, MatMul.
Element-wise operators, pooling and activations count 0.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["onnx_flops", "onnx_initializer_values", "proto_flops", "proto_values"]

COUNTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def _shapes(model: Any) -> dict[str, list[int]]:
    """Static shapes of every tensor after inference, with dynamic axes set to 1."""
    import onnx

    graph = model.graph
    for tensor in list(graph.input) + list(graph.output):
        for dim in tensor.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1  # the batch axis: cost per sample
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    shapes: dict[str, list[int]] = {}
    g = inferred.graph
    for info in list(g.input) + list(g.value_info) + list(g.output):
        dims = info.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[info.name] = [d.dim_value for d in dims]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _attr(node: Any, name: str, default: int) -> int:
    for attribute in node.attribute:
        if attribute.name == name:
            return int(attribute.i)
    return default


def _node_flops(node: Any, shapes: dict[str, list[int]]) -> int | None:
    out = shapes.get(node.output[0])
    if out is None:
        return None
    if node.op_type in ("Conv", "ConvTranspose"):
        weight = shapes.get(node.input[1])
        if weight is None:
            return None
        if node.op_type == "Conv":
            # every output element: (C_in / groups) · kernel multiply-adds
            return 2 * math.prod(out) * math.prod(weight[1:])
        inp = shapes.get(node.input[0])
        return None if inp is None else 2 * math.prod(inp) * math.prod(weight[1:])
    a = shapes.get(node.input[0])
    if a is None:
        return None
    transposed = node.op_type == "Gemm" and _attr(node, "transA", 0)
    inner = a[0] if transposed else a[-1]  # the contracted dimension
    return 2 * math.prod(out) * inner


def onnx_flops(path: Path) -> int | None:
    """FLOPs of one sample, or None when some counted operator's shapes cannot be inferred."""
    import onnx

    return proto_flops(onnx.load(str(path)))


def proto_flops(model: Any) -> int | None:
    """``onnx_flops`` of a loaded model (it is changed: its shapes are inferred)."""
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        if node.op_type not in COUNTED:
            continue
        flops = _node_flops(node, shapes)
        if flops is None:
            return None
        total += flops
    return total


def onnx_initializer_values(path: Path) -> int:
    """Number of values stored in the graph's initializers (weights, biases and constants)."""
    import onnx

    return proto_values(onnx.load(str(path), load_external_data=False))


def proto_values(model: Any) -> int:
    """``onnx_initializer_values`` of a loaded model."""
    return int(sum(math.prod(t.dims) for t in model.graph.initializer))
