"""An ``onnx:PATH`` model the converter cannot turn into PyTorch, kept as its ONNX graph.

:class:`OnnxFileModule` holds the file's bytes (a ``uint8`` buffer, so they travel in the
run's safetensors like any weights) and runs them in ONNX Runtime behind PyTorch tensors: the
flow evaluates, exports, measures and serves it like any model, while only the techniques
that work on a graph apply (INT8, fp16, the runtime's settings). Nothing can train it, and it
has no gradients. Its export (:func:`export_graph`) is the stored graph itself, with the run's
fitted input transform and the channels-last transpose written in front as ONNX operators.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zenopt.models.registry import register_model

__all__ = ["OnnxFileModule", "drop_final_activation", "export_graph", "stored_graph"]


class OnnxFileModule(nn.Module):
    """The stored graph ``graph`` (its bytes), run in ONNX Runtime; ``permute`` reorders the
    input's axes first; ``reason`` says why it was not converted to PyTorch."""

    graph: torch.Tensor

    def __init__(self, size: int, permute: list[int] | None = None, reason: str = "") -> None:
        super().__init__()
        self.register_buffer("graph", torch.zeros(int(size), dtype=torch.uint8))
        self.permute = list(permute) if permute else None
        self.reason = reason
        self._session: Any = None
        self._cost: tuple[int, int | None] | None = None

    @classmethod
    def of(cls, data: bytes, permute: list[int] | None, reason: str) -> OnnxFileModule:
        """The module holding the model ``data``, without a graph optimisation level it
        recorded (ONNX Runtime's default until a plan's ``runtime`` step records one)."""
        import onnx

        from zenopt.runtime.onnx_runtime import set_level

        proto = onnx.load_from_string(data)
        set_level(proto, "all")
        data = proto.SerializeToString()
        module = cls(len(data), permute, reason)
        module.graph.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        return module

    def graph_bytes(self) -> bytes:
        return self.graph.numpy().tobytes()

    def __getstate__(self) -> dict[str, Any]:  # a copy opens its own session
        return {**self.__dict__, "_session": None}

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._session = self._cost = None  # new bytes: a new session, a new count
        super()._load_from_state_dict(*args, **kwargs)

    def session(self) -> Any:
        """ONNX Runtime's session on the stored graph, at PyTorch's thread count (the thread
        count the torch runtime set for this model)."""
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                self.graph_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.detach().to(torch.float32).cpu().numpy()
        if self.permute:
            rows = np.ascontiguousarray(rows.transpose(self.permute))
        session = self.session()
        out = session.run(None, {session.get_inputs()[0].name: rows})[0]
        return torch.from_numpy(np.asarray(out, dtype=np.float32).reshape(len(rows), -1))

    def graph_cost(self) -> tuple[int, int | None]:
        """Values stored in the graph (its weights), and its FLOPs per row (None when its
        shapes cannot be inferred); counted once."""
        import onnx

        from zenopt.profile.onnx_cost import proto_flops, proto_values

        if self._cost is None:
            proto = onnx.load_from_string(self.graph_bytes())
            self._cost = (proto_values(proto), proto_flops(proto))
        return self._cost


def stored_graph(model: nn.Module) -> OnnxFileModule | None:
    """The stored graph a model is (or wraps), else None."""
    return next((m for m in model.modules() if isinstance(m, OnnxFileModule)), None)


@register_model("onnx_file", listed=False, probed=False)
def onnx_file(
    input_shape: tuple[int, ...],
    num_outputs: int,
    size: int,
    permute: list[int] | None = None,
    reason: str = "",
    source: dict[str, Any] | None = None,
) -> nn.Module:
    """The stored graph of a run's ``onnx:PATH`` model, rebuilt from its ``model.json`` (the
    bytes come from its safetensors)."""
    return OnnxFileModule(size, permute, reason)


def drop_final_activation(proto: Any, activation: str | None) -> str | None:
    """Replace by an Identity the ``activation`` (Softmax, Sigmoid) that makes the graph's
    output, under the rules of ``onnx_rewrite.drop_output_activation``; the op dropped."""
    from onnx import helper

    from zenopt.models.onnx_rewrite import drop_output_activation

    if activation is None:
        return None
    steps = [
        {
            "op": node.op_type,
            "in": list(node.input),
            "out": list(node.output),
            "attrs": {a.name: helper.get_attribute_value(a) for a in node.attribute},
            "index": index,
        }
        for index, node in enumerate(proto.graph.node)
    ]
    graph = {"output": proto.graph.output[0].name, "steps": list(steps)}
    if not drop_output_activation(graph, activation):
        return None
    (gone,) = [step for step in steps if all(step is not kept for kept in graph["steps"])]
    node = proto.graph.node[gone["index"]]
    node.CopyFrom(helper.make_node("Identity", [node.input[0]], [node.output[0]], node.name))
    return activation


def _rename(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        node.output[:] = [new if name == old else name for name in node.output]


_Step = tuple[str, list[Any], dict[str, Any]]


def _prefix(transform: Any, permute: list[int] | None) -> list[_Step]:
    """The fitted input transform (``InputTransform.forward``, step for step) and the
    transpose, as (op, operands, attributes); an operand is a tensor or the previous result."""
    steps: list[_Step] = []
    value = dict(transform.named_buffers())
    names = list(getattr(transform, "steps", []))
    if "fill" in names:
        steps += [("IsNaN", [None], {}), ("Where", ["mask", value["fill"], None], {})]
    if "clip_lo" in names:
        steps += [("Max", [None, value["clip_lo"]], {}), ("Min", [None, value["clip_hi"]], {})]
    if "center" in names:
        steps += [("Sub", [None, value["center"]], {}), ("Div", [None, value["scale"]], {})]
    if "select" in names:
        steps.append(("Gather", [None, value["select"]], {"axis": 1}))
    if "pca_mean" in names:
        components = value["pca_components"].T.contiguous()
        steps += [("Sub", [None, value["pca_mean"]], {}), ("MatMul", [None, components], {})]
    if permute:
        steps.append(("Transpose", [None], {"perm": list(permute)}))
    return steps


class _Names:
    """Fresh tensor and node names: none a graph already uses, none given twice."""

    def __init__(self, graph: Any) -> None:
        self.used = {init.name for init in graph.initializer}
        self.used |= {v.name for v in (*graph.input, *graph.output)}
        for node in graph.node:
            self.used |= {*node.input, *node.output, node.name}

    def __call__(self, base: str) -> str:
        name, n = base, 1
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        return name


def _write_prefix(graph: Any, prefix: list[_Step], shape: tuple[int, ...], names: _Names) -> None:
    """The prefix's nodes in front of the graph, which now takes raw rows of ``shape``."""
    from onnx import helper, numpy_helper

    stored = {init.name for init in graph.initializer}
    feed = next(i for i in graph.input if i.name not in stored)
    raw = names("input")
    current, mask, nodes = raw, "", []
    for i, (op, operands, attrs) in enumerate(prefix):
        inputs = []
        for operand in operands:
            if operand is None or isinstance(operand, str):  # the running value, or the mask
                inputs.append(current if operand is None else mask)
                continue
            name = names("zenopt_input_constant")
            graph.initializer.append(numpy_helper.from_array(operand.numpy(), name))
            inputs.append(name)
        out = feed.name if i == len(prefix) - 1 else names("zenopt_input")
        nodes.append(helper.make_node(op, inputs, [out], names(f"zenopt_input_{op}"), **attrs))
        mask, current = (out, current) if op == "IsNaN" else (mask, out)
    feed.name = raw
    dims = feed.type.tensor_type.shape.dim
    del dims[1:]
    for size in shape:
        dims.add().dim_value = int(size)
    kept = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *kept])


def _write_output_scaling(graph: Any, model: nn.Module, names: _Names) -> None:
    """``output * std + mean`` after the graph (a regression target the run standardised)."""
    from onnx import helper, numpy_helper

    out = graph.output[0].name
    unscaled, scaled = names(f"{out}_unscaled"), names(f"{out}_scaled")
    _rename(graph, out, unscaled)
    constants = []
    for key in ("output_std", "output_mean"):
        value = getattr(model, key).detach().numpy().astype(np.float32).reshape(1)
        constants.append(names(f"zenopt_{key}"))
        graph.initializer.append(numpy_helper.from_array(value, constants[-1]))
    graph.node.extend([
        helper.make_node("Mul", [unscaled, constants[0]], [scaled], names("zenopt_output_Mul")),
        helper.make_node("Add", [scaled, constants[1]], [out], names("zenopt_output_Add")),
    ])  # fmt: skip


def export_graph(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> Path:
    """The ONNX file of a deployable model whose network is a stored graph: the graph, its
    input (rows of ``input_shape``) fed by the fitted transform and transpose, its output
    scaled back when the run scaled a regression target; the new input is named ``input``
    unless the graph uses that name."""
    import onnx

    from zenopt.core.errors import ExportError
    from zenopt.core.rundir import atomic_write_bytes

    net = stored_graph(model)
    assert net is not None
    proto = onnx.load_from_string(net.graph_bytes())
    names = _Names(proto.graph)
    prefix = _prefix(model.transform, net.permute)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if prefix and opset < 9:
        raise ExportError(
            f"the model's graph is at ONNX opset {opset}; the fitted input transform needs 9 "
            "or later: convert the file (onnx.version_converter) or leave data.scale at none"
        )
    if prefix:
        _write_prefix(proto.graph, prefix, input_shape, names)
    if getattr(model, "scales_output", False):
        _write_output_scaling(proto.graph, model, names)
    atomic_write_bytes(path, proto.SerializeToString())
    return path
