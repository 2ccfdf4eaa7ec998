"""What the served model takes and gives as Open Inference Protocol tensors, and the encoding
between those tensors and the runtime's float32 batch — the same encoding ``zenopt predict``
applies to a file.

- images: one input ``input``, ``[rows, C, H, W]``, FP32 (or UINT8, FP16, FP64), raw pixel values
  as the run read them (the model scales them itself);
- tables read with a header: one input per original column, named as the column, shape
  ``[rows]``: FP64 for numeric columns (NaN or JSON null for a missing value, when the run
  imputes), BYTES for categorical ones (one-hot or ordinal encoded with the run's categories);
- tables without column names (``.npz``): one input ``input``, ``[rows, features]``, FP32.

Outputs: ``probabilities`` (FP32, ``[rows, classes]``) and ``label`` (BYTES, ``[rows]``) for a
classifier, ``value`` (FP32, ``[rows]``) for regression.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.heads import class_probabilities, prediction_texts
from zenopt.serve.tensors import ClientError, RequestTensor

__all__ = ["Signature", "TensorInfo", "Unseen"]

Unseen = Callable[[str, int], None]  # (column, values no training row had)

_FLOATS = ("FP32", "FP64", "FP16")
_INTS = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    datatype: str  # what the metadata declares
    shape: tuple[int, ...]  # -1 for the rows
    accepts: tuple[str, ...] = ()  # datatypes taken as well as the declared one

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def _inputs(model: dict[str, Any], matrix: bool) -> tuple[str, list[TensorInfo]]:
    shape = tuple(int(d) for d in model["input_shape"])
    if len(shape) == 3:
        return "image", [TensorInfo("input", "FP32", (-1, *shape), ("UINT8", "FP16", "FP64"))]
    inputs = model.get("inputs") or {}
    numeric = list(inputs.get("numeric") or [])
    categorical = list(((inputs.get("encoder") or {}).get("categories") or {}).keys())
    if matrix or (not numeric and not categorical):
        return "features", [TensorInfo("input", "FP32", (-1, *shape), ("FP64", "FP16", *_INTS))]
    columns = [TensorInfo(n, "FP64", (-1,), ("FP32", "FP16", *_INTS)) for n in numeric]
    columns += [TensorInfo(n, "BYTES", (-1,), (*_INTS, *_FLOATS)) for n in categorical]
    return "columns", columns


def _outputs(model: dict[str, Any]) -> list[TensorInfo]:
    if model["head"] == "identity":
        return [TensorInfo("value", "FP32", (-1,))]
    classes = len(model["class_names"])
    return [TensorInfo("probabilities", "FP32", (-1, classes)), TensorInfo("label", "BYTES", (-1,))]


class Signature:
    """The model's OIP tensors (from the run's ``model`` record and its ``data.impute``) and
    the encoding of a request's tensors into the runtime's batch."""

    def __init__(self, model: dict[str, Any], impute: str, matrix: bool = False) -> None:
        self.kind, self.inputs = _inputs(model, matrix)
        self.outputs = _outputs(model)
        self.head = str(model["head"])
        self.class_names = [str(c) for c in model.get("class_names") or []]
        self.imputes = impute != "none"
        self._encoder = (model.get("inputs") or {}).get("encoder")
        categories = (self._encoder or {}).get("categories", {})
        self._known = {name: set(values) for name, values in categories.items()}
        self._by_value = {name: _by_value(values) for name, values in categories.items()}
        if self.kind == "columns":  # imported now, not on the first request (about a second)
            import zenopt.data.encode
            import zenopt.data.tables  # noqa: F401

    # 1. the request's tensors against the declared ones
    def _matched(self, tensors: list[RequestTensor]) -> tuple[dict[str, RequestTensor], int]:
        by_name = {t.name: t for t in tensors}
        expected = [t.name for t in self.inputs]
        unknown = [n for n in by_name if n not in expected]
        missing = [n for n in expected if n not in by_name]
        if unknown or missing:
            what = (
                f"unknown input {unknown[0]!r}" if unknown else f"input {missing[0]!r} is missing"
            )
            raise ClientError(400, f"{what}; the model takes {_listed(expected)}")
        rows = {t.name: t.shape[0] if t.shape else -1 for t in tensors}
        for info in self.inputs:
            _check_tensor(by_name[info.name], info)
        if len(set(rows.values())) > 1:
            raise ClientError(
                400,
                f"the inputs have different row counts: {rows}; send one "
                "value per row in every input",
            )
        n = next(iter(rows.values()))
        if n == 0:
            raise ClientError(400, "the request has no rows; send at least one")
        return by_name, n

    def encode(self, tensors: list[RequestTensor], unseen: Unseen | None = None) -> np.ndarray:
        """The runtime's float32 batch for a request's tensors, or a :class:`ClientError`;
        ``unseen(column, n)`` hears of values no training row had (encoded as all zeros)."""
        by_name, rows = self._matched(tensors)
        if self.kind != "columns":
            sent = by_name["input"].array
            X = np.array(sent, dtype=np.float32, order="C")  # writable: torch takes it as is
            _check_finite(X, sent, "input", self._nan_rule("input"))
            return X
        return self._columns(by_name, rows, unseen)

    # 2. a table's columns, encoded as predict encodes a file's
    def _columns(
        self, by_name: dict[str, RequestTensor], rows: int, unseen: Unseen | None
    ) -> np.ndarray:
        from zenopt.data.encode import CategoricalEncoder
        from zenopt.data.tables import stack_columns

        numeric, texts = [], {}
        for info in self.inputs:
            array = by_name[info.name].array.reshape(-1)
            if info.datatype == "BYTES":
                texts[info.name] = _text(array, info.name, self._by_value[info.name])
                known = self._known[info.name]
                count = sum(v is not None and v not in known for v in texts[info.name])
                if count and unseen is not None:
                    unseen(info.name, count)
                continue
            values = array.astype(np.float32)  # the model's precision: 1e39 is infinite there
            _check_finite(values, array, info.name, self._nan_rule(info.name))
            numeric.append(values)
        X = stack_columns(numeric, rows)
        if texts:
            encoder = CategoricalEncoder.from_dict(self._encoder or {})
            X = np.concatenate([X, encoder.transform(texts, rows)], axis=1)
        return np.ascontiguousarray(X, dtype=np.float32)

    def _nan_rule(self, name: str) -> str | None:
        """None when NaN (a missing value) is taken, else why not."""
        if self.kind == "image":
            return "images cannot have missing values"
        if self.imputes:
            return None
        return "this model takes none (the run did not set data.impute)"

    def decode(
        self, raw: np.ndarray, wanted: list[str] | None = None
    ) -> dict[str, tuple[str, np.ndarray]]:
        """The runtime's outputs for some rows as the OIP outputs (name → datatype, array):
        those ``wanted``, or all of them."""
        if self.head == "identity":
            return {"value": ("FP32", raw.reshape(-1).astype(np.float32))}
        out: dict[str, tuple[str, np.ndarray]] = {}
        if wanted is None or "probabilities" in wanted:
            out["probabilities"] = ("FP32", class_probabilities(raw, self.head))
        if wanted is None or "label" in wanted:
            labels = prediction_texts(raw, self.head, self.class_names)
            out["label"] = ("BYTES", np.asarray(labels, dtype=object))
        return out


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:12])
    return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def _check_tensor(tensor: RequestTensor, info: TensorInfo) -> None:
    where = f"input {info.name!r}"
    if tensor.datatype != info.datatype and tensor.datatype not in info.accepts:
        raise ClientError(
            400,
            f"{where}: datatype {tensor.datatype} is not {info.datatype}"
            + (f" (or {', '.join(info.accepts)})" if info.accepts else ""),
        )
    expected = info.shape[1:]
    got = tensor.shape[1:]
    if not tensor.shape or (got != expected and not (expected == () and got == (1,))):
        want = ", ".join(["rows", *(str(d) for d in expected)])
        raise ClientError(400, f"{where}: shape {list(tensor.shape)} is not [{want}]")


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def _check_finite(X: np.ndarray, sent: np.ndarray, name: str, no_nan: str | None) -> None:
    """``X`` (float32, what the model gets from ``sent``) has no infinity, and no NaN unless
    the model takes missing values (``no_nan`` says why it does not)."""
    if np.isfinite(X.sum()):  # one reduction: a NaN or infinity anywhere makes it one
        return
    infinite = np.isinf(X)
    if infinite.any():
        row = _first_row(infinite)
        if sent.dtype.kind == "f" and np.isinf(sent).any():
            problem = "an infinite value"
        else:
            problem = "a value outside FP32's range (±3.4e38), infinite to the model"
        raise ClientError(400, f"input {name!r}: row {row} holds {problem}; send finite numbers")
    if no_nan is not None and np.isnan(X).any():
        raise ClientError(
            400,
            f"input {name!r}: row {_first_row(np.isnan(X))} holds NaN (a missing value), and "
            f"{no_nan}; send a number",
        )


def _by_value(categories: list[str]) -> dict[float, str]:
    """A categorical column's categories that are numbers, by value: so that a number sent
    as ``94110`` or ``94110.0`` finds ``"94110.0"`` (a Parquet float column) or ``"94110"``."""
    found: dict[float, str] = {}
    for category in categories:
        with contextlib.suppress(ValueError):  # a category that is not a number
            found.setdefault(float(category), category)
    return found


def _cell(value: Any, by_value: dict[float, str]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float | int | np.number) and not isinstance(value, bool | np.bool_):
        return by_value.get(float(value), str(value))
    return str(value)


def _text(array: np.ndarray, name: str, by_value: dict[float, str]) -> np.ndarray:
    """A categorical column's cells as :func:`zenopt.data.tables.text_column` reads a file's:
    stripped text, None for a missing cell (empty, ``NA``, ``?``, JSON null…); a number as the
    category of the same value (else as its text)."""
    from zenopt.data.tables import RawTable, text_column

    cells = np.asarray([_cell(v, by_value) for v in array], dtype=object)
    raw = RawTable(Path(name), [name], [cells], lambda r: f"row {r}")
    return text_column(raw, name)
