"""An ONNX graph as a PyTorch module, so that a model the user only has as an ONNX file can be
pruned, distilled and fine-tuned like one zenopt built.

Why a converter of our own: ``onnx2torch`` and ``onnx2pytorch`` import torchvision, which does
not load beside the CPU build of torch 2.13 (and ``onnx2torch`` refuses the ``Reshape`` with
``allowzero`` that torch's own exporter writes). This one covers the operators of CNN and MLP
classifiers (``onnx_ops.OPS``), each checked against ONNX Runtime in the tests, and the whole
converted graph is checked against ONNX Runtime on the run's own rows before it is used.

The graph travels as JSON (:func:`describe`: steps, layer sizes, small integer constants) in
``model.json`` and its weights as safetensors, like any model of a run: Conv,
BatchNormalization and Gemm/MatMul (with a constant weight) become ``nn`` layers that
structured pruning narrows; a reshape to (batch, everything else) stays one when it is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from zenopt.core.errors import ModelError
from zenopt.models.onnx_ops import OPS
from zenopt.models.onnx_rewrite import drop_output_activation, unprunable_layers
from zenopt.models.registry import register_model

__all__ = ["OnnxGraphModule", "describe"]

_SMALL_INTS = 64  # integer constants up to this many values travel in the JSON (shapes, axes)


def _attributes(node: Any, opset: int) -> dict[str, Any]:
    from onnx import helper

    out: dict[str, Any] = {"_op": node.op_type}
    if node.op_type in ("Softmax", "LogSoftmax") and opset < 13:
        out["axis"] = 1  # its default before opset 13 (same as -1 on the 2-D scores)
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list | tuple):
            value = [v.decode() if isinstance(v, bytes) else v for v in value]
        out[attribute.name] = value
    return out


def _shapes(model: Any) -> dict[str, list[int | None]]:
    """Every tensor's inferred shape (None for a symbolic dimension such as the batch)."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # shapes are a help, not a need: the checks against ONNX Runtime decide
        inferred = model
    graph = inferred.graph
    out: dict[str, list[int | None]] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        dims = info.type.tensor_type.shape.dim
        out[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    return out


def _constant_value(node: Any) -> np.ndarray:
    """A Constant node's value, in any of its attribute forms (value, value_float(s),
    value_int(s))."""
    from onnx import helper, numpy_helper

    attribute = node.attribute[0]
    if attribute.name == "value":
        return numpy_helper.to_array(attribute.t)
    value = helper.get_attribute_value(attribute)
    if attribute.name in ("value_float", "value_floats"):
        return np.asarray(value, dtype=np.float32)
    if attribute.name in ("value_int", "value_ints"):
        return np.asarray(value, dtype=np.int64)
    raise ModelError(f"node {node.name or node.output[0]} (Constant): {attribute.name} is not read")


class _Builder:
    """Turns the nodes of a graph into steps, layers, constants and weights."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.graph = model.graph
        self.opset = next(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 18
        )
        self.shapes = _shapes(model)
        self.values = {i.name: numpy_helper.to_array(i) for i in self.graph.initializer}
        for node in self.graph.node:
            if node.op_type == "Constant":
                self.values[node.output[0]] = _constant_value(node)
        self.consumers: dict[str, int] = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        self.steps: list[dict[str, Any]] = []
        self.layers: dict[str, dict[str, Any]] = {}
        self.weights: dict[str, np.ndarray] = {}
        self.constants: dict[str, dict[str, Any]] = {}  # ONNX name -> {"key"} or {"ints"}
        self.skip: set[int] = set()

    def constant(self, name: str) -> None:
        """An initializer a step reads: a buffer, or (small integers) a JSON value."""
        if not name or name in self.constants or name not in self.values:
            return
        array = self.values[name]
        if array.dtype.kind in "iu" and array.size <= _SMALL_INTS:
            self.constants[name] = {"ints": array.astype(np.int64).tolist()}
            return
        key = f"c{len(self.constants)}"
        self.constants[name] = {"key": key, "dtype": str(array.dtype), "shape": list(array.shape)}
        self.weights[f"constants.{key}"] = array

    def layer(self, index: int, spec: dict[str, Any], weights: dict[str, Any]) -> str:
        key = f"{spec['type'].lower()}{index}"
        self.layers[key] = spec
        for name, array in weights.items():
            if array is not None:
                self.weights[f"layers.{key}.{name}"] = np.asarray(array, dtype=np.float32)
        return key

    def known(self, name: str) -> np.ndarray | None:
        return self.values.get(name)


def _conv(b: _Builder, index: int, node: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    weight = b.known(node.input[1])
    if weight is None:
        raise ModelError(f"node {node.name or index} (Conv): its weight is computed, not stored")
    dims = weight.ndim - 2
    pads = list(attrs.get("pads") or [0] * (2 * dims))
    auto = attrs.get("auto_pad", "NOTSET")
    strides = list(attrs.get("strides") or [1] * dims)
    padding: Any = pads[:dims]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if any(s != 1 for s in strides):
            raise ModelError(f"node {node.name or index} (Conv): auto_pad {auto} with strides")
        padding, pads = "same", [0] * (2 * dims)
    elif auto == "VALID":
        padding, pads = [0] * dims, [0] * (2 * dims)
    if pads[:dims] != pads[dims:]:  # asymmetric: padded first, in F.pad's order
        prepad: list[int] = []
        for begin, end in zip(reversed(pads[:dims]), reversed(pads[dims:]), strict=True):
            prepad += [begin, end]
        attrs["_prepad"], padding = prepad, [0] * dims
    groups = int(attrs.get("group", 1))
    bias = b.known(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    spec = {"type": f"Conv{dims}d", "in_channels": int(weight.shape[1]) * groups,
            "out_channels": int(weight.shape[0]), "kernel_size": list(weight.shape[2:]),
            "stride": strides, "padding": padding,
            "dilation": list(attrs.get("dilations") or [1] * dims), "groups": groups,
            "bias": bias is not None}  # fmt: skip
    return {"layer": b.layer(index, spec, {"weight": weight, "bias": bias}), "in": [node.input[0]]}


def _batch_norm(b: _Builder, index: int, node: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    arrays = [b.known(n) for n in node.input[1:5]]
    if any(a is None for a in arrays):
        raise ModelError(f"node {node.name or index} (BatchNormalization): computed statistics")
    scale, bias, mean, var = arrays
    rank = len(b.shapes.get(node.input[0], [])) or 4
    kind = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}[rank]
    spec = {"type": kind, "num_features": int(scale.shape[0]),  # type: ignore[union-attr]
            "eps": float(attrs.get("epsilon", 1e-5))}  # fmt: skip
    weights = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var}
    return {"layer": b.layer(index, spec, weights), "in": [node.input[0]]}


def _linear(b: _Builder, index: int, node: Any, attrs: dict[str, Any]) -> dict[str, Any] | None:
    """Gemm or MatMul by a stored 2-D weight (and a MatMul's following Add of a stored bias)
    as ``nn.Linear``; None when the node is not of that form."""
    weight = b.known(node.input[1]) if len(node.input) > 1 else None
    if weight is None or weight.ndim != 2 or attrs.get("transA") or attrs.get("alpha", 1) != 1:
        return None
    rank = len(b.shapes.get(node.input[0], [])) or 2
    bias = None
    if node.op_type == "Gemm":
        weight = weight if attrs.get("transB") else weight.T
        if len(node.input) > 2 and node.input[2]:
            bias = b.known(node.input[2])
            if bias is None or attrs.get("beta", 1) != 1:
                return None
            bias = np.broadcast_to(bias.reshape(-1), (weight.shape[0],))
    else:
        weight = weight.T
        bias = _fused_bias(b, index, node, weight.shape[0])
    if rank != 2 and node.op_type == "Gemm":
        return None
    spec = {"type": "Linear", "in_features": int(weight.shape[1]),
            "out_features": int(weight.shape[0]), "bias": bias is not None}  # fmt: skip
    out = {"layer": b.layer(index, spec, {"weight": weight, "bias": bias}), "in": [node.input[0]]}
    if node.op_type == "MatMul" and bias is not None:
        out["out"] = [b.graph.node[index + 1].output[0]]  # the Add's output
    return out


def _fused_bias(b: _Builder, index: int, node: Any, width: int) -> np.ndarray | None:
    """The stored bias a MatMul's only consumer, the next node, adds; None if not so."""
    nodes = b.graph.node
    if index + 1 >= len(nodes) or b.consumers.get(node.output[0]) != 1:
        return None
    add = nodes[index + 1]
    if add.op_type != "Add" or node.output[0] not in add.input:
        return None
    other = [n for n in add.input if n != node.output[0]]
    bias = b.known(other[0]) if other else None
    if bias is None or bias.size != width or bias.shape[-1] != width:  # one value per column
        return None
    b.skip.add(index + 1)
    return bias.reshape(-1)


def _is_flatten(b: _Builder, node: Any) -> bool:
    """A Reshape to (batch, all the rest), written with the rest's size as a number."""
    target = b.known(node.input[1])
    source = b.shapes.get(node.input[0])
    if target is None or target.size != 2 or not source or len(source) < 2:
        return False
    rest = source[1:]
    if any(d is None for d in rest):
        return False
    first, second = (int(v) for v in target.reshape(-1))
    return first in (0, -1) and second in (-1, math.prod(d for d in rest if d is not None))


def _step(b: _Builder, index: int, node: Any) -> dict[str, Any]:
    attrs = _attributes(node, b.opset)
    step: dict[str, Any] | None = None
    if node.op_type == "Conv":
        step = _conv(b, index, node, attrs)
    elif node.op_type == "BatchNormalization":
        step = _batch_norm(b, index, node, attrs)
    elif node.op_type in ("Gemm", "MatMul"):
        step = _linear(b, index, node, attrs)
    elif node.op_type == "Reshape" and _is_flatten(b, node):
        attrs["_flatten"] = True
        step = {"in": [node.input[0]]}
    step = step or {"in": list(node.input)}
    step.setdefault("out", list(node.output))
    for name in step["in"]:
        b.constant(name)
    return {"op": node.op_type, "attrs": attrs, **step}


def describe(
    model: Any, input_name: str, output_activation: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The graph of an ONNX model (its input ``input_name``, its one output) as JSON, and its
    weights by the state-dict key of :class:`OnnxGraphModule`. ``output_activation``
    (Softmax, Sigmoid): drop it where it makes the output (the run's head applies it). The
    JSON also names the layers pruning must leave whole (``onnx_rewrite``). A node of an
    operator the converter lacks is a :class:`ModelError` naming every such operator."""
    missing = sorted({n.op_type for n in model.graph.node} - set(OPS) - {"Constant"})
    if missing:
        raise ModelError(f"zenopt's PyTorch converter lacks the operator(s) {', '.join(missing)}")
    b = _Builder(model)
    for index, node in enumerate(model.graph.node):
        if node.op_type == "Constant" or index in b.skip:
            continue
        b.steps.append(_step(b, index, node))
    graph: dict[str, Any] = {
        "input": input_name,
        "output": model.graph.output[0].name,
        "steps": b.steps,
        "layers": b.layers,
        "constants": b.constants,
    }
    dropped = output_activation is not None and drop_output_activation(graph, output_activation)
    graph["dropped_activation"] = output_activation if dropped else None
    graph["unprunable"] = unprunable_layers(graph)
    return graph, {k: torch.from_numpy(np.array(v, dtype=v.dtype)) for k, v in b.weights.items()}


def _make_layer(spec: dict[str, Any]) -> nn.Module:
    kind = spec["type"]
    if kind.startswith("Conv"):
        conv: Any = {"Conv1d": nn.Conv1d, "Conv2d": nn.Conv2d, "Conv3d": nn.Conv3d}[kind]
        padding = spec["padding"] if isinstance(spec["padding"], str) else tuple(spec["padding"])
        layer: nn.Module = conv(
            spec["in_channels"], spec["out_channels"], tuple(spec["kernel_size"]),
            stride=tuple(spec["stride"]), padding=padding, dilation=tuple(spec["dilation"]),
            groups=spec["groups"], bias=spec["bias"],
        )  # fmt: skip
        return layer
    if kind.startswith("BatchNorm"):
        norm = {"BatchNorm1d": nn.BatchNorm1d, "BatchNorm2d": nn.BatchNorm2d,
                "BatchNorm3d": nn.BatchNorm3d}[kind]  # fmt: skip
        return norm(spec["num_features"], eps=spec["eps"])
    return nn.Linear(spec["in_features"], spec["out_features"], bias=spec["bias"])


class _Constants(nn.Module):
    """The graph's stored tensors that are not a layer's weights, as buffers."""

    def __init__(self, constants: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        for entry in constants.values():
            if "key" in entry:
                dtype = getattr(torch, np.dtype(entry["dtype"]).name)
                self.register_buffer(entry["key"], torch.zeros(entry["shape"], dtype=dtype))


class OnnxGraphModule(nn.Module):
    """Runs the steps of :func:`describe`'s graph in order; ``permute`` reorders the input's
    axes first (a graph that takes images channels-last, fed zenopt's channels-first); the
    output comes as (rows, outputs) unless ``rows`` is False."""

    def __init__(
        self, graph: dict[str, Any], permute: list[int] | None = None, rows: bool = True
    ) -> None:
        super().__init__()
        self.graph = graph
        self.permute = permute
        self.rows = rows  # the output as (rows, outputs); False: as the graph gives it
        self.layers = nn.ModuleDict({k: _make_layer(s) for k, s in graph["layers"].items()})
        self.constants = _Constants(graph["constants"])

    def _inputs(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        for name, entry in self.graph["constants"].items():
            if "ints" in entry:  # an int (a 0-d constant) or a list of them
                env[name] = entry["ints"]
            else:
                env[name] = getattr(self.constants, entry["key"])
        return env

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.permute:
            x = x.permute(*self.permute)
        env = self._inputs()
        env[self.graph["input"]] = x
        for step in self.graph["steps"]:
            args = [env[name] if name else None for name in step["in"]]
            layer = self.layers[step["layer"]] if "layer" in step else None
            outputs = OPS[step["op"]](args, step["attrs"], layer)
            for name, value in zip(step["out"], outputs, strict=False):  # Dropout's mask: unused
                env[name] = value
        out: torch.Tensor = env[self.graph["output"]]
        if self.rows:  # (rows, outputs), also for an output of (rows,)
            return out.reshape(out.shape[0], -1)
        return out

    def ignored_for_pruning(self) -> list[nn.Module]:
        """The layers structured pruning must leave whole (``onnx_rewrite``)."""
        return [self.layers[key] for key in self.graph.get("unprunable", [])]


@register_model("onnx", listed=False)
def onnx_graph(
    input_shape: tuple[int, ...],
    num_outputs: int,
    graph: dict[str, Any],
    permute: list[int] | None = None,
    source: dict[str, Any] | None = None,
) -> nn.Module:
    """The architecture of a run's ``onnx:PATH`` model, rebuilt from its ``model.json`` (the
    weights come from its safetensors; ``source`` says where it came from, for the record)."""
    return OnnxGraphModule(graph, permute)
