"""``model.name: onnx:PATH``: a trained classifier or regressor the user only has as an ONNX
file, as the run's starting point.

The file is read and checked (one input with a free batch axis and fixed other axes, one
output of class scores or values), fitted to the data (a channels-last image graph gets a
transpose), converted to PyTorch (``onnx_graph``) and the conversion checked against ONNX
Runtime on the data's own rows. Every way a file can fail is one line naming it.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zenopt.core.errors import ModelError, first_line
from zenopt.models.keras_source import named_errors as _named

__all__ = [
    "PREFIX",
    "OnnxModel",
    "conversion_gap",
    "graph_input_shape",
    "is_onnx",
    "load_onnx_model",
    "source_defaults",
    "source_path",
]

PREFIX = "onnx:"
TOLERANCE = 1e-4  # the converted graph against ONNX Runtime: largest difference, relative


def is_onnx(name: str) -> bool:
    """An ONNX model as the starting point: ``onnx:PATH``, or ``keras:PATH`` exported to one
    (not ``keras:package.module:factory``, a Keras model zenopt trains)."""
    from zenopt.models.keras_job import is_keras_factory
    from zenopt.models.keras_source import is_keras

    return name.startswith(PREFIX) or (is_keras(name) and not is_keras_factory(name))


def source_path(name: str) -> Path:
    """The ONNX file of an ``onnx:PATH`` or ``keras:PATH`` model (a Keras model is exported
    to ONNX once, in a child process: ``keras_source``)."""
    from zenopt.models.keras_source import is_keras, keras_onnx

    return keras_onnx(name) if is_keras(name) else Path(name[len(PREFIX) :]).expanduser()


@dataclass(frozen=True)
class OnnxModel:
    net: torch.nn.Module
    graph: dict[str, Any]
    permute: list[int] | None  # the input's axes reordered (channels-last graphs)
    num_outputs: int
    head: str  # softmax, sigmoid or identity
    path: Path
    sha256: str
    max_abs_diff: float  # the converted graph against ONNX Runtime on the data's rows
    notes: list[str]


def _read(path: Path) -> Any:
    import onnx

    keras = " (a Keras model: use model.name=keras:PATH)"
    if path.is_dir() or path.suffix == ".keras":
        raise ModelError(f"model.name=onnx:{path}: not an ONNX file{keras}")
    if not path.is_file():
        raise ModelError(f"model.name=onnx:{path}: no such file; give the path of an .onnx model")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf's own untyped errors for a damaged file
        raise ModelError(f"{path}: not a readable ONNX model ({first_line(exc)})") from None


def _dims(value: Any) -> list[int | None]:
    return [
        d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim
    ]


def _signature(model: Any, path: Path) -> tuple[str, list[int], list[int | None]]:
    """The input's name and fixed axes (batch excluded), and the output's axes."""
    stored = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in stored]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise ModelError(
            f"{path}: the model has {len(inputs)} inputs ({names}); zenopt optimizes models "
            "with one input (an image or a feature vector per row)"
        )
    if len(model.graph.output) != 1:
        raise ModelError(
            f"{path}: the model has {len(model.graph.output)} outputs; zenopt optimizes "
            "models with one output (class scores or values per row)"
        )
    elem = inputs[0].type.tensor_type.elem_type
    if elem != 1:  # TensorProto.FLOAT
        import onnx

        kind = onnx.TensorProto.DataType.Name(elem) if elem else "undeclared"
        raise ModelError(
            f"{path}: input {inputs[0].name!r} is {kind}; zenopt feeds float32 (the data's "
            "values as the model's input): export the model with a float32 input"
        )
    dims = _dims(inputs[0])
    if not dims:
        raise ModelError(
            f"{path}: input {inputs[0].name!r} has no declared shape; export the model with "
            "its input's shape (a dynamic batch axis and fixed other axes)"
        )
    if dims[0] not in (None, 0):
        raise ModelError(
            f"{path}: input {inputs[0].name!r} has a fixed batch size {dims[:1]}; export it "
            "with a dynamic batch axis (torch.onnx.export(..., dynamic_shapes=...) or "
            "dynamic_axes={'input': {0: 'batch'}})"
        )
    rest = dims[1:]
    if any(d is None or d == 0 for d in rest):
        raise ModelError(
            f"{path}: input {inputs[0].name!r} has shape {['batch', *rest]} with a dynamic axis "
            "besides the batch; zenopt needs every other axis fixed (export at the size "
            "you serve)"
        )
    return inputs[0].name, [int(d) for d in rest if d is not None], _dims(model.graph.output[0])


def _layout(path: Path, graph_shape: list[int], data_shape: tuple[int, ...]) -> list[int] | None:
    """None when the graph takes the data as it is; a permutation for a channels-last graph
    of the data's images; else a one-line error."""
    if tuple(graph_shape) == data_shape:
        return None
    if len(data_shape) == 3 and len(graph_shape) == 3:
        channels, height, width = data_shape
        if graph_shape == [height, width, channels] and channels in (1, 3):
            return [0, 2, 3, 1]
    hint = ""
    if len(data_shape) == 3 and len(graph_shape) == 3:
        side = graph_shape[1] if graph_shape[0] in (1, 3) else graph_shape[0]
        hint = f" (set data.resize={side}, and data.color=rgb for 3 channels)"
    raise ModelError(
        f"{path}: the model takes rows of shape {graph_shape}, the data gives {list(data_shape)}"
        f"; the data must be in the model's input space{hint}"
    )


def _head(path: Path, output: list[int | None], task: str, num_classes: int) -> tuple[int, str]:
    if len(output) > 2 or (len(output) == 2 and output[1] is None):
        raise ModelError(
            f"{path}: the model's output has shape {['batch', *output[1:]]}; zenopt takes one "
            "row of class scores (or one value) per input row"
        )
    width = output[1] if len(output) == 2 else 1
    if task == "regression":
        if width != 1:
            raise ModelError(f"{path}: a regression needs one output value per row, not {width}")
        return 1, "identity"
    if width == num_classes:
        return int(width), "softmax"
    if width == 1 and num_classes == 2:
        return 1, "sigmoid"
    raise ModelError(
        f"{path}: the model gives {width} class scores per row, the data has {num_classes} "
        "classes (output i is the i-th class in sorted order of the labels)"
    )


def _session(proto: Any) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def _feed(X: np.ndarray, permute: list[int] | None) -> np.ndarray:
    rows = X if permute is None else np.ascontiguousarray(X.transpose(0, 2, 3, 1))
    return rows.astype(np.float32)


def _ort_outputs(path: Path, session: Any, X: np.ndarray, permute: list[int] | None) -> Any:
    try:
        return session.run(None, {session.get_inputs()[0].name: _feed(X, permute)})[0]
    except Exception as exc:
        raise ModelError(
            f"{path}: ONNX Runtime cannot run the model on the data's rows ({first_line(exc)})"
        ) from None


def _check(model: OnnxModel, want: np.ndarray, X: np.ndarray) -> float:
    """The largest difference between the converted graph and ONNX Runtime's outputs
    ``want`` on ``X``, relative to the outputs' largest magnitude."""
    want = want.reshape(len(X), -1)
    try:
        with torch.no_grad():
            got = model.net(torch.from_numpy(X.astype(np.float32))).numpy().reshape(len(X), -1)
    except Exception as exc:
        raise ModelError(
            f"{model.path}: converted to PyTorch, the model fails on the data's rows "
            f"({first_line(exc)}); please report it with the model"
        ) from None
    dropped = model.graph.get("dropped_activation")
    if dropped == "Softmax":
        got = np.exp(got - got.max(axis=1, keepdims=True))
        got = got / got.sum(axis=1, keepdims=True)
    elif dropped == "Sigmoid":
        got = 1.0 / (1.0 + np.exp(-got))
    scale = max(float(np.abs(want).max()), 1.0)
    return float(np.abs(got - want).max()) / scale


def _convert(proto: Any, input_name: str, activation: str | None, permute: Any) -> Any:
    """The graph as a PyTorch module with the file's weights; a :class:`ModelError` of one
    line when it cannot be."""
    from zenopt.models.onnx_graph import OnnxGraphModule, describe

    try:
        graph, weights = describe(proto, input_name, activation)
        net = OnnxGraphModule(graph, permute)
        net.load_state_dict(weights, strict=True)
    except ModelError:
        raise
    except Exception as exc:  # a form of a tensor or an attribute the converter does not take
        raise ModelError(
            f"the graph cannot be converted to PyTorch ({type(exc).__name__}: {first_line(exc)})"
        ) from None
    return graph, net.eval()


def conversion_gap(name: str) -> str | None:
    """Why the ``onnx:PATH`` model cannot be converted to PyTorch, in one line, or None
    (``_gap``); worked out once for a file while it is unchanged, so the run's config and
    its model loader always agree."""
    with _named(name):
        path = source_path(name)
        if not path.is_file():
            _read(path)  # the one-line error
        stat = path.stat()
        return _gap(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _gap(name: str, mtime_ns: int, size: int) -> str | None:
    """Why the ``onnx:PATH`` model cannot be converted to PyTorch (one line), or None when it
    can; such a model runs as its ONNX graph (``onnx_file``), with graph techniques only.
    Converted, it must also reproduce ONNX Runtime on random rows of its input's shape (the
    data's own rows check it again when the run loads it)."""
    path = Path(name)
    proto = _read(path)
    input_name, shape, _ = _signature(proto, path)
    try:
        _, net = _convert(proto, input_name, None, None)
    except ModelError as exc:
        return str(exc)
    rows = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    try:
        want = _session(proto).run(None, {input_name: rows})[0].reshape(len(rows), -1)
    except Exception:  # a graph that needs the data's own values: the data decides
        return None
    try:
        with torch.no_grad():
            got = net(torch.from_numpy(rows)).numpy().reshape(len(rows), -1)
    except Exception as exc:
        return f"the PyTorch conversion fails on rows ONNX Runtime takes ({first_line(exc)})"
    if got.shape != want.shape or not _agree(got, want):
        return "the PyTorch conversion does not reproduce ONNX Runtime on random rows"
    return None


def _agree(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal to ``TOLERANCE`` (relative to the outputs' largest magnitude) where ONNX Runtime
    gives finite values, and non-finite where it does not (a Log of a negative row)."""
    finite = np.isfinite(want)
    if not np.array_equal(finite, np.isfinite(got)):
        return False
    if not finite.any():
        return True
    scale = max(float(np.abs(want[finite]).max()), 1.0)
    return bool(float(np.abs(got[finite] - want[finite]).max()) / scale <= TOLERANCE)


def _graph_only(model: OnnxModel, proto: Any, activation: str | None, gap: str) -> OnnxModel:
    """The model kept as its ONNX graph, its final activation dropped as a conversion would."""
    from zenopt.models.onnx_file import OnnxFileModule, drop_final_activation

    dropped = drop_final_activation(proto, activation)
    net = OnnxFileModule.of(proto.SerializeToString(), model.permute, gap)
    notes = [f"a final {dropped} was dropped: the run's head applies it"] if dropped else []
    graph = {"dropped_activation": dropped, "graph_only": gap}
    return OnnxModel(**{**model.__dict__, "net": net.eval(), "graph": graph, "notes": notes})


def load_onnx_model(
    name: str, data_shape: tuple[int, ...], task: str, num_classes: int, X: np.ndarray
) -> OnnxModel:
    with _named(name):
        return _load_onnx_model(name, data_shape, task, num_classes, X)


def _load_onnx_model(
    name: str, data_shape: tuple[int, ...], task: str, num_classes: int, X: np.ndarray
) -> OnnxModel:
    """The ONNX model named ``onnx:PATH`` as a PyTorch module for data of ``data_shape`` (or,
    when ``conversion_gap`` names why it cannot be, as its graph), checked against ONNX
    Runtime on the rows ``X`` (in the model's input space)."""
    path = source_path(name)
    proto = _read(path)
    input_name, graph_shape, output = _signature(proto, path)
    permute = _layout(path, graph_shape, data_shape)
    try:
        session = _session(proto)
    except Exception as exc:  # ORT's own errors: an opset or operator it does not run
        raise ModelError(f"{path}: ONNX Runtime cannot load it ({first_line(exc)})") from None
    want = _ort_outputs(path, session, X, permute)
    if len(output) != 2 or output[1] is None:  # undeclared: the width ONNX Runtime gives
        output = [None, *want.shape[1:]]
    num_outputs, head = _head(path, output, task, num_classes)
    activation = {"softmax": "Softmax", "sigmoid": "Sigmoid"}.get(head)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model = OnnxModel(
        torch.nn.Identity(), {}, permute, num_outputs, head, path.resolve(), digest, 0.0, []
    )
    gap = conversion_gap(name)  # as the run's config was set (``graph_only_defaults``)
    if gap is not None:
        model = _graph_only(model, proto, activation, gap)
    else:
        graph, net = _convert(proto, input_name, activation, permute)
        dropped = graph["dropped_activation"]
        notes = [f"a final {dropped} was dropped: the run's head applies it"] if dropped else []
        if graph["unprunable"]:
            notes.append(f"{len(graph['unprunable'])} layer(s) are left whole by pruning")
        model = OnnxModel(**{**model.__dict__, "net": net, "graph": graph, "notes": notes})
    diff = _check(model, want, X)
    if not diff <= TOLERANCE:
        raise ModelError(
            f"{path}: converted to PyTorch, the model's outputs differ from ONNX Runtime's by "
            f"{diff:.2e} (relative; at most {TOLERANCE:g} is accepted): an operator is not "
            "converted faithfully; please report it with the model"
        )
    return OnnxModel(**{**model.__dict__, "max_abs_diff": diff})


def graph_input_shape(name: str) -> list[int]:
    """The fixed axes of an ``onnx:PATH`` model's input, batch excluded (checked)."""
    with _named(name):
        path = source_path(name)
        return _signature(_read(path), path)[1]


def source_defaults(config: Any) -> Any:
    """The run's config for an ``onnx:PATH`` model: the data stays in the model's input space
    (``data.scale: none`` unless set), a ``keras:PATH`` model is evaluated as it is unless
    ``train.epochs`` is set (then fine-tuned in Keras), images are resized to the graph's side when
    ``data.resize`` is ``auto``, and the search tries ONNX Runtime's graph optimisation
    levels all and extended unless ``compress.search.space.graph_optimization`` is set.
    Other configs come back as they are."""
    if not is_onnx(config.model.name):
        return config
    from zenopt.core.errors import ConfigError

    config = config.model_copy(deep=True)
    if config.tune.when != "never" and "when" in config.tune.model_fields_set:
        raise ConfigError(
            f"tune.when={config.tune.when}: {config.model.name} arrives trained, so there are "
            "no training hyperparameters to tune; leave tune.when out (or set never)"
        )
    config.tune.when = "never"
    if config.model.name.startswith("keras:") and "epochs" not in config.train.model_fields_set:
        config.train.epochs = 0  # evaluated as it is; train.epochs N fine-tunes it in Keras
    space = config.compress.search.space
    if "graph_optimization" not in space.model_fields_set:  # a graph from elsewhere: try both
        update = {"graph_optimization": ["all", "extended"]}
        config.compress.search.space = space.model_copy(update=update)
    if "scale" not in config.data.model_fields_set:
        config.data.scale = "none"
    shape = graph_input_shape(config.model.name)
    if config.data.resize == "auto" and len(shape) == 3:
        height, width = (shape[1], shape[2]) if shape[0] in (1, 3) else (shape[0], shape[1])
        if height == width:
            config.data.resize = int(height)
    return config
