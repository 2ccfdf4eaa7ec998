"""Two readings of a converted ONNX graph (``onnx_graph.describe``'s JSON), before it is used:

1. :func:`drop_output_activation`: a classifier exported with its final Softmax (or a binary
   one with its Sigmoid) gives probabilities; the run's head applies that function itself,
   so the graph should give the scores before it (logits). The activation is dropped when it
   feeds the output, through shape-only steps, over the class axis.
2. :func:`unprunable_layers`: structured pruning removes channels from a layer and from what
   reads them. It is right only where every reader of a layer's output treats channels
   alike — activations, pooling, elementwise with another such tensor or a scalar, a flatten
   of (batch, rest), a concatenation over channels. A layer whose output reaches anything
   else (a transpose, a reshape to fixed sizes, a per-channel constant, a gather…) keeps its
   channels, and so do the layers tied to it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["drop_output_activation", "unprunable_layers"]

_SHAPE_ONLY = {"Identity", "Flatten", "Reshape", "Squeeze", "Dropout"}
_CHANNEL_SAFE = {
    "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "HardSigmoid", "HardSwish", "Gelu", "Erf",
    "Softplus", "Softsign", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil",
    "Identity", "Dropout", "Cast", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool",
    "GlobalMaxPool",
}  # fmt: skip
_ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"}


def _producers(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: step for step in graph["steps"] for name in step["out"]}


def drop_output_activation(graph: dict[str, Any], op: str) -> bool:
    """Drop the ``op`` (Softmax or Sigmoid) whose output becomes the graph's, through
    shape-only steps; Softmax only over axis 1 (or -1) of a 2-D tensor. True when dropped."""
    producers = _producers(graph)
    name, after = graph["output"], None
    while name in producers and producers[name]["op"] in _SHAPE_ONLY:
        after = producers[name]
        name = after["in"][0]
    step = producers.get(name)
    if step is None or step["op"] != op:
        return False
    if op == "Softmax" and step["attrs"].get("axis", -1) not in (1, -1):
        return False
    source = step["in"][0]
    if after is None:
        graph["output"] = source
    else:
        after["in"] = [source, *after["in"][1:]]
    graph["steps"] = [s for s in graph["steps"] if s is not step]
    return True


def _constant_operand(graph: dict[str, Any], name: str) -> bool:
    """Whether ``name`` is a stored tensor of more than one value (a per-channel constant)."""
    entry = graph["constants"].get(name)
    if entry is None:
        return False
    if "ints" in entry:
        return isinstance(entry["ints"], list) and len(entry["ints"]) > 1
    size = 1
    for dim in entry["shape"]:
        size *= int(dim)
    return size > 1


def _safe(graph: dict[str, Any], step: dict[str, Any]) -> bool:
    """Whether ``step`` treats the channels of what it reads alike."""
    op, attrs = step["op"], step["attrs"]
    if "layer" in step or op in _CHANNEL_SAFE:
        return True
    if op in _ELEMENTWISE:
        return not any(_constant_operand(graph, name) for name in step["in"])
    if op == "Flatten":
        return bool(attrs.get("axis", 1) == 1)
    if op == "Reshape":
        return bool(attrs.get("_flatten"))
    if op == "Concat":
        return bool(attrs.get("axis") == 1)
    if op in ("ReduceMean", "ReduceMax", "ReduceSum"):  # over the spatial axes only
        axes = attrs.get("axes")
        if axes is None and len(step["in"]) > 1:  # opset 18: axes are an input
            axes = graph["constants"].get(step["in"][1], {}).get("ints")
        return isinstance(axes, list) and bool(axes) and all(a >= 2 for a in axes)
    return False


def _roots(graph: dict[str, Any], name: str, seen: set[str]) -> set[str]:
    """The layers whose channels reach tensor ``name`` (through channel-preserving steps)."""
    producers = _producers(graph)
    found: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen or current not in producers:
            continue
        seen.add(current)
        step = producers[current]
        if "layer" in step:
            found.add(step["layer"])
            if not step["layer"].startswith("batchnorm"):  # a norm is tied to what feeds it
                continue
        stack.extend(n for n in step["in"] if n and n not in graph["constants"])
    return found


def unprunable_layers(graph: dict[str, Any]) -> list[str]:
    """The layers structured pruning must leave whole (see the module's docstring)."""
    out: set[str] = set()
    for step in graph["steps"]:
        if _safe(graph, step):
            continue
        for name in step["in"]:
            if name and name not in graph["constants"]:
                out |= _roots(graph, name, set())
    return sorted(out)
