"""The ONNX operators zenopt's converter runs in PyTorch, one function each, with ONNX's
semantics (checked operator by operator against ONNX Runtime in the tests).

A function takes the node's inputs (tensors; a shape travels as a list of ints, so that a
batch size stays symbolic when the module is exported again), its attributes, and the layer
built for it (Conv, BatchNormalization and Gemm/MatMul become ``nn`` layers, which structured
pruning can narrow); it returns the node's outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OPS", "Value"]

Value = Any  # a tensor, or a shape as a list of ints
Op = Callable[[list[Value], dict[str, Any], nn.Module | None], list[Value]]
OPS: dict[str, Op] = {}

_DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 10: torch.float16,
           11: torch.float64, 16: torch.bfloat16}  # fmt: skip


def _op(*names: str) -> Callable[[Op], Op]:
    def register(fn: Op) -> Op:
        for name in names:
            OPS[name] = fn
        return fn

    return register


def _ints(value: Value) -> list[int]:
    """A shape-like input (a list, or an int64 tensor) as Python ints."""
    if isinstance(value, list):
        return value
    return [int(v) for v in value.reshape(-1).tolist()]


def _tensor(value: Value) -> torch.Tensor:
    """A shape or an integer constant as an int64 tensor (when arithmetic needs one)."""
    return value if isinstance(value, torch.Tensor) else torch.tensor(value, dtype=torch.int64)


# --- layers --------------------------------------------------------------------------------
@_op("Conv", "BatchNormalization")
def _layer(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    assert layer is not None
    x = inputs[0]
    pads = attrs.get("_prepad")
    if pads:  # asymmetric padding, applied before the layer
        x = F.pad(x, pads)
    return [layer(x)]


@_op("Gemm", "MatMul")
def _linear(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    if layer is not None:
        return [layer(inputs[0])]
    a, b = inputs[0], inputs[1]
    if attrs.get("transA"):
        a = a.transpose(-1, -2)
    if attrs.get("transB"):
        b = b.transpose(-1, -2)
    out = attrs.get("alpha", 1.0) * (a @ b)
    if len(inputs) > 2:
        out = out + attrs.get("beta", 1.0) * inputs[2]
    return [out]


# --- elementwise ---------------------------------------------------------------------------
_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp,
    "Log": torch.log, "Sqrt": torch.sqrt, "Neg": torch.neg, "Abs": torch.abs, "Erf": torch.erf,
    "Reciprocal": torch.reciprocal, "Floor": torch.floor, "Ceil": torch.ceil,
    "Softplus": F.softplus, "Softsign": F.softsign, "HardSwish": F.hardswish,
}  # fmt: skip
_BINARY: dict[str, Callable[[Any, Any], torch.Tensor]] = {
    "Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": torch.pow,
    "Max": torch.maximum, "Min": torch.minimum,
}  # fmt: skip


@_op(*_UNARY)
def _unary(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    return [_UNARY[attrs["_op"]](inputs[0])]


_PYTHON: dict[str, Callable[[int, int], int]] = {
    "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a // b, "Max": max, "Min": min,
}  # fmt: skip


@_op(*_BINARY)
def _binary(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    op = attrs["_op"]
    if all(isinstance(v, int) for v in inputs) and op in _PYTHON:  # arithmetic on a shape
        out = inputs[0]
        for other in inputs[1:]:
            out = _PYTHON[op](out, other)
        return [out]
    tensors = [v if isinstance(v, torch.Tensor) else _tensor(v) for v in inputs]
    result = tensors[0]
    for other in tensors[1:]:  # Max and Min take any number of inputs
        result = _BINARY[op](result, other)
    return [result]


@_op("LeakyRelu")
def _leaky(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    return [F.leaky_relu(inputs[0], attrs.get("alpha", 0.01))]


@_op("Elu")
def _elu(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    return [F.elu(inputs[0], attrs.get("alpha", 1.0))]


@_op("HardSigmoid")
def _hard_sigmoid(
    inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None
) -> list[Value]:
    alpha, beta = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
    return [torch.clamp(alpha * inputs[0] + beta, 0.0, 1.0)]


@_op("Gelu")
def _gelu(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    return [F.gelu(inputs[0], approximate=attrs.get("approximate", "none"))]


@_op("Clip")
def _clip(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else attrs.get("min")
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else attrs.get("max")
    if low is None and high is None:  # no bound: the identity
        return [inputs[0]]
    return [torch.clamp(inputs[0], low, high)]


@_op("Softmax", "LogSoftmax")
def _softmax(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    fn = torch.softmax if attrs["_op"] == "Softmax" else torch.log_softmax
    return [fn(inputs[0], dim=attrs.get("axis", -1))]


@_op("Identity", "Dropout")
def _identity(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    return [inputs[0]]


@_op("Cast")
def _cast(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    if isinstance(inputs[0], list | int):  # a shape (or one of its elements) stays one
        return [inputs[0]]
    return [inputs[0].to(_DTYPES[attrs["to"]])]


# --- pooling -------------------------------------------------------------------------------
def _pool_pads(x: torch.Tensor, attrs: dict[str, Any], fill: float) -> tuple[torch.Tensor, Any]:
    """ONNX's [begin…, end…] pads: symmetric ones to the pool, others applied first."""
    pads = attrs.get("pads") or [0] * (2 * len(attrs["kernel_shape"]))
    half = len(pads) // 2
    begin, end = pads[:half], pads[half:]
    if begin == end:
        return x, tuple(begin)
    flat: list[int] = []
    for b, e in zip(reversed(begin), reversed(end), strict=True):
        flat += [b, e]
    return F.pad(x, flat, value=fill), 0


@_op("MaxPool")
def _max_pool(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x, padding = _pool_pads(inputs[0], attrs, -math.inf)
    fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(attrs["kernel_shape"])]
    return [fn(x, attrs["kernel_shape"], attrs.get("strides") or 1, padding,
               attrs.get("dilations") or 1, bool(attrs.get("ceil_mode", 0)))]  # fmt: skip


@_op("AveragePool")
def _avg_pool(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    include = bool(attrs.get("count_include_pad", 0))
    x, padding = _pool_pads(inputs[0], attrs, 0.0)
    if padding == 0 and not include and any(attrs.get("pads") or []):
        raise NotImplementedError("AveragePool with asymmetric pads and count_include_pad=0")
    fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[len(attrs["kernel_shape"])]
    return [fn(x, attrs["kernel_shape"], attrs.get("strides") or 1, padding,
               bool(attrs.get("ceil_mode", 0)), include)]  # fmt: skip


@_op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(
    inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None
) -> list[Value]:
    x = inputs[0]
    dims = tuple(range(2, x.dim()))
    if attrs["_op"] == "GlobalAveragePool":
        return [x.mean(dim=dims, keepdim=True)]
    return [x.amax(dim=dims, keepdim=True)]


@_op("ReduceMean", "ReduceMax", "ReduceSum")
def _reduce(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x = inputs[0]
    axes = attrs.get("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = _ints(inputs[1])
    dims = tuple(axes) if axes else tuple(range(x.dim()))
    keep = bool(attrs.get("keepdims", 1))
    if attrs["_op"] == "ReduceMean":
        return [x.mean(dim=dims, keepdim=keep)]
    if attrs["_op"] == "ReduceSum":
        return [x.sum(dim=dims, keepdim=keep)]
    return [x.amax(dim=dims, keepdim=keep)]


# --- shapes --------------------------------------------------------------------------------
@_op("Flatten")
def _flatten(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x, axis = inputs[0], attrs.get("axis", 1)
    if axis == 0:
        return [x.reshape(1, -1)]
    return [x.reshape(math.prod(x.shape[:axis]), -1) if axis != 1 else torch.flatten(x, 1)]


@_op("Reshape")
def _reshape(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x = inputs[0]
    if attrs.get("_flatten"):  # a reshape to (batch, everything else): stays one when pruned
        return [torch.flatten(x, 1)]
    shape = _ints(inputs[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [x.reshape(shape)]


@_op("Transpose")
def _transpose(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x = inputs[0]
    perm = attrs.get("perm") or list(reversed(range(x.dim())))
    return [x.permute(*perm)]


def _axes(inputs: list[Value], attrs: dict[str, Any]) -> list[int]:
    if "axes" in attrs:
        return list(attrs["axes"])
    return _ints(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else []


@_op("Unsqueeze")
def _unsqueeze(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x, axes = inputs[0], _axes(inputs, attrs)
    if isinstance(x, list | int):  # a scalar of a shape: a one-element shape
        return [x if isinstance(x, list) else [x]]
    rank = x.dim() + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = x.unsqueeze(axis)
    return [x]


@_op("Squeeze")
def _squeeze(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x, axes = inputs[0], _axes(inputs, attrs)
    if isinstance(x, list):  # a one-element shape: its element
        return [x[0] if len(x) == 1 else x]
    if not axes:
        return [x.squeeze()]
    for axis in sorted((a % x.dim() for a in axes), reverse=True):
        x = x.squeeze(axis)
    return [x]


@_op("Concat")
def _concat(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    if any(isinstance(v, list | int) for v in inputs):  # pieces of a shape
        out: list[int] = []
        for value in inputs:
            out += [value] if isinstance(value, int) else _ints(value)
        return [out]
    return [torch.cat(inputs, dim=attrs.get("axis", 0))]


@_op("Slice")
def _slice(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    """Opset 10+ (starts, ends, axes, steps as inputs) or 1–9 (as attributes); a slice of a
    shape (Keras's flatten computes its target so) stays a list of ints."""
    data = inputs[0]
    starts = attrs.get("starts") or _ints(inputs[1])
    ends = attrs.get("ends") or _ints(inputs[2])
    rest = [*inputs[3:5], None, None]
    axes = attrs.get("axes") or (_ints(rest[0]) if rest[0] is not None else range(len(starts)))
    steps = _ints(rest[1]) if rest[1] is not None else [1] * len(starts)
    if any(step < 1 for step in steps):
        raise NotImplementedError("Slice with a negative step")
    if isinstance(data, list | int):
        values = data if isinstance(data, list) else [data]
        return [values[slice(starts[0], ends[0], steps[0])]]
    index: list[slice] = [slice(None)] * data.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=False):
        index[axis % data.dim()] = slice(start, end, step)
    return [data[tuple(index)]]


@_op("Shape")
def _shape(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    dims = list(inputs[0].shape)
    return [dims[attrs.get("start", 0) : attrs.get("end", len(dims))]]


@_op("Gather")
def _gather(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    data, index = inputs[0], inputs[1]
    if isinstance(data, list):  # an element (or elements) of a shape
        if isinstance(index, int):
            return [data[index]]
        return [[data[i] for i in _ints(index)]]
    axis = attrs.get("axis", 0) % data.dim()
    indices = _tensor(index)
    indices = torch.where(indices < 0, indices + data.shape[axis], indices)  # from the end
    picked = torch.index_select(data, axis, indices.reshape(-1))
    return [picked.reshape(*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :])]


@_op("Range")
def _range(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    start, limit, delta = (v if isinstance(v, int) else v.reshape(()) for v in inputs)
    dtype = next((v.dtype for v in inputs if isinstance(v, torch.Tensor)), torch.int64)
    return [torch.arange(start, limit, delta, dtype=dtype)]


@_op("Pad")
def _pad(inputs: list[Value], attrs: dict[str, Any], layer: nn.Module | None) -> list[Value]:
    x = inputs[0]
    pads = attrs.get("pads") or _ints(inputs[1])
    value = attrs.get("value", 0.0)
    if len(inputs) > 2 and inputs[2] is not None:
        value = float(inputs[2].reshape(-1)[0])
    half = len(pads) // 2
    flat: list[int] = []
    for b, e in zip(reversed(pads[:half]), reversed(pads[half:]), strict=True):
        flat += [b, e]
    mode = attrs.get("mode", "constant")
    if mode == "constant":
        return [F.pad(x, flat, value=value)]
    keep = 2 * (x.dim() - 2)  # torch pads the spatial axes only in these modes
    if any(flat[keep:]):
        raise NotImplementedError(f"Pad mode {mode} on the batch or channel axis")
    flat = flat[:keep]
    return [F.pad(x, flat, mode={"reflect": "reflect", "edge": "replicate"}[mode])]
