"""ONNX Runtime backend on the CPU, with full graph optimisation and explicit thread counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.errors import RuntimeBackendError, first_line

__all__ = [
    "LEVELS",
    "LEVEL_KEY",
    "OnnxRuntimePredictor",
    "graph_level",
    "make_session",
    "recorded_level",
    "set_level",
    "stamp_level",
]


# A model file's graph optimisation level, when it is not ONNX Runtime's default (all): the
# search chose it, and every session zenopt opens on the file uses it.
LEVEL_KEY = "zenopt.graph_optimization"
LEVELS = ("all", "extended", "basic", "none")
_METADATA_FIELD = 14  # ModelProto.metadata_props


def graph_level(name: str) -> Any:
    """ONNX Runtime's ``GraphOptimizationLevel`` for one of ``LEVELS``."""
    import onnxruntime as ort

    levels = ort.GraphOptimizationLevel
    return {"all": levels.ORT_ENABLE_ALL, "extended": levels.ORT_ENABLE_EXTENDED,
            "basic": levels.ORT_ENABLE_BASIC, "none": levels.ORT_DISABLE_ALL}[name]  # fmt: skip


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def recorded_level(path: Path) -> str:
    """The level the model file records (``stamp_level``), else ``all``. Only the file's
    top-level fields are read: the graph's bytes are skipped, not parsed."""
    from onnx import StringStringEntryProto

    data, pos, level = path.read_bytes(), 0, "all"
    try:
        while pos < len(data):
            tag, pos = _varint(data, pos)
            wire = tag & 7
            if wire == 0:
                pos = _varint(data, pos)[1]
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            elif wire == 2:
                size, pos = _varint(data, pos)
                if tag >> 3 == _METADATA_FIELD:
                    entry = StringStringEntryProto.FromString(data[pos : pos + size])
                    level = entry.value if entry.key == LEVEL_KEY else level
                pos += size
            else:  # not a model file: ONNX Runtime says so when it opens it
                return "all"
    except Exception:  # a damaged file (protobuf's own errors): ONNX Runtime says so
        return "all"
    if level not in LEVELS:
        raise RuntimeBackendError(
            f"{path}: metadata {LEVEL_KEY}={level!r} is not one of {', '.join(LEVELS)}; "
            f"remove that metadata entry or set it to one of them"
        )
    return level


def set_level(model: Any, level: str) -> None:
    """Record ``level`` in a loaded model's metadata (``LEVEL_KEY``); ``all``, the default,
    is recorded as no entry (an entry the model had is removed)."""
    kept = [p for p in model.metadata_props if p.key != LEVEL_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    if level != "all":
        model.metadata_props.add(key=LEVEL_KEY, value=level)


def stamp_level(path: Path, level: str) -> None:
    """``set_level`` on the model file ``path``."""
    import onnx

    from zenopt.core.rundir import atomic_write_bytes

    if level == "all" and recorded_level(path) == "all":
        return
    model = onnx.load(str(path))
    set_level(model, level)
    atomic_write_bytes(path, model.SerializeToString())


def make_session(path: Path, threads: int, spinning: bool = True, level: str | None = None) -> Any:
    """An ONNX Runtime session on the CPU; ``spinning=False``: its intra-op threads sleep
    between calls instead of spinning (a server, which shares its cores with its own event
    loop, keeps them; a benchmark of back-to-back calls does not care). ``level``: the graph
    optimisation level; None: the one the file records (``recorded_level``)."""
    import onnxruntime as ort

    if not path.is_file():
        raise RuntimeBackendError(f"{path}: ONNX model not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = graph_level(level or recorded_level(path))
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own untyped errors for bad files
        first = first_line(exc)
        raise RuntimeBackendError(f"{path}: ONNX Runtime cannot load it: {first}") from None


class OnnxRuntimePredictor:
    name = "onnxruntime"

    def __init__(self) -> None:
        self.threads = 0
        self.spinning = True  # see make_session
        self.session_: Any = None
        self.input_name_ = ""

    def load(self, path: Path, threads: int) -> None:
        if path.is_dir():
            path = path / "model.onnx"
        self.session_ = make_session(path, threads, self.spinning)
        self.threads = threads
        self.input_name_ = self.session_.get_inputs()[0].name

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.session_ is None:
            raise RuntimeError("predict called before load")
        out: np.ndarray = self.session_.run(None, {self.input_name_: x})[0]
        return out

    def close(self) -> None:
        self.session_ = None
