"""Open Inference Protocol (v2) tensors on the wire: a request body to NumPy arrays, NumPy
arrays to a response body — JSON, or JSON followed by raw bytes (Triton's binary tensor
extension, ``parameters.binary_data_size`` and the ``Inference-Header-Content-Length`` header).

Every way a request can be wrong is a :class:`ClientError` naming the field and the fix; the
app answers it with its status and ``{"error": "..."}``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

__all__ = [
    "DTYPES",
    "ClientError",
    "InferRequest",
    "RequestTensor",
    "decode_bytes",
    "encode_bytes",
    "parse_infer_request",
    "response_body",
    "tensor_entry",
]

# OIP datatype → NumPy dtype; BYTES tensors are object arrays of str.
DTYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}


class ClientError(Exception):
    """A request the server will not run: HTTP ``status`` and a one-line message."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class RequestTensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray  # shaped ``shape``; BYTES as an object array of str (None: JSON null)


@dataclass(frozen=True)
class InferRequest:
    inputs: list[RequestTensor]
    outputs: list[str] | None  # the outputs asked for, in order; None: all
    binary_outputs: set[str] = field(default_factory=set)  # of those asked for
    all_binary: bool = False  # parameters.binary_data_output: every output without its own say
    id: str | None = None
    timeout_us: int | None = None  # Triton's per-request ``parameters.timeout``


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ClientError(400, f"{what} must be a JSON object, got {type(value).__name__}")
    return value


_MAX_DIMS, _MAX_DIM = 32, 2**31 - 1  # within what NumPy can shape


def _count(value: Any) -> bool:
    """A JSON integer (not a boolean) that is 0 or more."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shape(raw: Any, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(_count(d) for d in raw):
        raise ClientError(
            400, f"{where}: 'shape' must be a list of non-negative integers, got {raw!r}"
        )
    if len(raw) > _MAX_DIMS or any(d > _MAX_DIM for d in raw):
        raise ClientError(
            400,
            f"{where}: 'shape' must have at most {_MAX_DIMS} dimensions of at most "
            f"{_MAX_DIM} each, got {len(raw)} dimensions up to {max(raw)}",
        )
    return tuple(raw)


def encode_bytes(values: np.ndarray) -> bytes:
    """A BYTES tensor's binary form: each element as a 4-byte little-endian length and its
    UTF-8 bytes."""
    parts = []
    for value in values.reshape(-1):
        data = value if isinstance(value, bytes) else str(value).encode()
        parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)


def decode_bytes(raw: bytes, count: int, where: str) -> np.ndarray:
    """The inverse of :func:`encode_bytes`, checked: ``count`` elements, nothing left over."""
    out: list[str] = []
    at = 0
    while at < len(raw) and len(out) < count:
        if at + 4 > len(raw):
            break
        (size,) = struct.unpack_from("<I", raw, at)
        start, at = at + 4, at + 4 + size
        if at > len(raw):
            break
        try:
            out.append(raw[start:at].decode())
        except UnicodeDecodeError:
            raise ClientError(400, f"{where}: element {len(out)} is not UTF-8 text") from None
    if len(out) != count or at != len(raw):
        raise ClientError(
            400,
            f"{where}: binary BYTES data does not hold {count} length-prefixed elements "
            "(4-byte little-endian length, then the bytes, for each)",
        )
    return np.asarray(out, dtype=object)


def _text_cell(value: Any) -> str | float | None:
    """A BYTES cell from JSON: text; a number stays a number (the model decides how it reads:
    ``94110`` and ``94110.0`` are one category); null stays missing."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON writes it
    if isinstance(value, int | float):
        return value
    raise ValueError(f"{value!r} is not text")


def _numbers(data: list[Any], datatype: str) -> np.ndarray:
    """JSON numbers as ``datatype``: no text, no booleans for numbers (nor numbers for BOOL),
    whole numbers in range for integers; JSON null is NaN (a missing value) for floats."""
    array = np.asarray(data)
    if array.dtype.kind == "O":  # null among numbers, text, or ragged lists
        cells = array.reshape(-1) if array.ndim else [array.item()]
        if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                   for v in cells):  # fmt: skip
            raise ValueError("text, booleans or lists of different lengths among the numbers")
        array = np.asarray(data, dtype=np.float64)
    if array.dtype.kind not in "biuf" or (array.dtype.kind == "b") != (datatype == "BOOL"):
        raise ValueError(f"got {'booleans' if array.dtype.kind == 'b' else 'text'}")
    target = np.dtype(DTYPES[datatype])
    if target.kind in "iu" and array.size:
        if array.dtype.kind == "f" and not np.array_equal(np.floor(array), array):
            raise ValueError("not whole numbers")
        info = np.iinfo(target)
        if array.min() < info.min or array.max() > info.max:
            raise ValueError(f"outside {datatype}'s range {info.min}..{info.max}")
    return array.astype(target)


def _from_json(data: Any, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    if not isinstance(data, list):
        raise ClientError(400, f"{where}: 'data' must be a list, got {type(data).__name__}")
    try:
        if datatype == "BYTES":
            cells = np.asarray(data, dtype=object).reshape(-1)
            array = np.asarray([_text_cell(v) for v in cells], dtype=object)
            nested = np.shape(data)
        else:
            array = _numbers(data, datatype)
            nested = array.shape
    except (ValueError, TypeError, OverflowError) as exc:
        raise ClientError(
            400,
            f"{where}: 'data' is not a list of {datatype} values ({str(exc).splitlines()[0]}); "
            "send the values flattened in row-major order, or nested to match 'shape'",
        ) from None
    if len(nested) > 1 and tuple(nested) != shape:
        raise ClientError(
            400, f"{where}: 'data' is nested as {list(nested)}, not as 'shape' {list(shape)}"
        )
    if array.size != math.prod(shape):
        raise ClientError(
            400,
            f"{where}: 'data' holds {array.size} values but 'shape' {list(shape)} needs "
            f"{math.prod(shape)}",
        )
    return array.reshape(shape)


def _from_binary(raw: bytes, datatype: str, shape: tuple[int, ...], where: str) -> np.ndarray:
    count = math.prod(shape)
    if datatype == "BYTES":
        return decode_bytes(raw, count, where).reshape(shape)
    dtype = np.dtype(DTYPES[datatype]).newbyteorder("<")
    if len(raw) != count * dtype.itemsize:
        raise ClientError(
            400,
            f"{where}: binary_data_size is {len(raw)} bytes, but {count} {datatype} values "
            f"(shape {list(shape)}) take {count * dtype.itemsize}",
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _tensor(raw: Any, index: int, blob: memoryview, at: int) -> tuple[RequestTensor, int]:
    """One entry of ``inputs`` and where the next binary tensor starts."""
    item = _object(raw, f"inputs[{index}]")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ClientError(400, f"inputs[{index}]: 'name' must be a non-empty string")
    where = f"input {name!r}"
    datatype = item.get("datatype")
    if datatype not in DTYPES:
        raise ClientError(400, f"{where}: datatype {datatype!r} is not one of {', '.join(DTYPES)}")
    shape = _shape(item.get("shape"), where)
    size = _object(item.get("parameters") or {}, f"{where}: 'parameters'").get("binary_data_size")
    if size is None:
        if "data" not in item:
            raise ClientError(400, f"{where}: no 'data' and no parameters.binary_data_size")
        return RequestTensor(
            name, datatype, shape, _from_json(item["data"], datatype, shape, where)
        ), at
    if "data" in item:
        raise ClientError(400, f"{where}: both 'data' and parameters.binary_data_size; send one")
    if not _count(size):
        raise ClientError(
            400, f"{where}: binary_data_size must be a number of bytes (0 or more), got {size!r}"
        )
    if at + size > len(blob):
        raise ClientError(
            400,
            f"{where}: binary_data_size {size!r} runs past the {len(blob)} bytes after the "
            "JSON header (set Inference-Header-Content-Length to the JSON part's length)",
        )
    array = _from_binary(bytes(blob[at : at + size]), datatype, shape, where)
    return RequestTensor(name, datatype, shape, array), at + size


def _flag(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        raise ClientError(400, f"parameters.{key} must be true or false, got {value!r}")
    return value


def _outputs(raw: Any, everything_binary: bool) -> tuple[list[str] | None, set[str]]:
    if raw is None or raw == []:  # none named: all of them
        return None, set()
    if not isinstance(raw, list):
        raise ClientError(400, "'outputs' must be a list of {\"name\": ...} objects")
    names, binary = [], set()
    for i, entry in enumerate(raw):
        item = _object(entry, f"outputs[{i}]")
        name = item.get("name")
        if not isinstance(name, str):
            raise ClientError(400, f"outputs[{i}]: 'name' must be a string")
        params = _object(item.get("parameters") or {}, f"outputs[{i}]: 'parameters'")
        if "classification" in params:
            raise ClientError(
                400,
                f"output {name!r}: the classification extension is not "
                "supported; ask for 'label' and 'probabilities'",
            )
        if name in names:
            raise ClientError(400, f"output {name!r} is asked for twice")
        if _flag(params, "binary_data", everything_binary):
            binary.add(name)
        names.append(name)
    return names, binary


def _header(body: bytes, header_length: str | None) -> tuple[dict[str, Any], memoryview]:
    """The JSON part of the body, and the bytes after it."""
    if header_length is None:
        split = len(body)
    else:
        try:
            split = int(header_length)
        except ValueError:
            split = -1
        if not 0 <= split <= len(body):
            raise ClientError(
                400,
                f"Inference-Header-Content-Length {header_length!r} is not a length within the "
                f"{len(body)}-byte body",
            )
    try:
        parsed = orjson.loads(body[:split])  # 12× json.loads (benchmarks/bench_serve_stack.py)
    except orjson.JSONDecodeError as exc:
        parsed = _lenient(body[:split], exc)
    return _object(parsed, "the request body"), memoryview(body)[split:]


def _lenient(text: bytes, error: Exception) -> Any:
    """Python's json, for what orjson refuses that clients write: the NaN and Infinity of
    Python's ``json.dumps`` (and tritonclient's JSON mode)."""
    import json

    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ClientError(400, f"the request body is not JSON ({error})") from None


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """An infer request body (JSON, or JSON + binary tensors) to arrays, checked."""
    head, blob = _header(body, header_length)
    raw_inputs = head.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ClientError(400, "'inputs' must be a non-empty list of tensors")
    params = _object(head.get("parameters") or {}, "'parameters'")
    inputs, at = [], 0
    for index, raw in enumerate(raw_inputs):
        tensor, at = _tensor(raw, index, blob, at)
        inputs.append(tensor)
    if at != len(blob):
        raise ClientError(
            400,
            f"{len(blob) - at} bytes after the JSON header belong to no input's binary_data_size",
        )
    names = [t.name for t in inputs]
    if len(set(names)) != len(names):
        raise ClientError(
            400, f"input {next(n for n in names if names.count(n) > 1)!r} is sent twice"
        )
    all_binary = _flag(params, "binary_data_output", False)
    outputs, binary = _outputs(head.get("outputs"), all_binary)
    timeout = params.get("timeout")
    if timeout is not None and not _count(timeout):
        raise ClientError(
            400, f"parameters.timeout must be a number of µs (0: the server's), got {timeout!r}"
        )
    request_id = head.get("id")
    return InferRequest(
        inputs,
        outputs,
        binary,
        all_binary,
        None if request_id is None else str(request_id),
        timeout or None,  # Triton's 0: no timeout of its own
    )


def tensor_entry(
    name: str, datatype: str, array: np.ndarray, binary: bool
) -> tuple[dict[str, Any], bytes]:
    """A request's input or a response's output: its JSON entry, and its bytes when sent in
    binary (``parameters.binary_data_size``; nothing otherwise)."""
    entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if not binary:
        flat = array.reshape(-1)
        entry["data"] = flat.tolist() if datatype == "BYTES" else np.ascontiguousarray(flat)
        return entry, b""
    raw = (
        encode_bytes(array)
        if datatype == "BYTES"
        else np.ascontiguousarray(array)
        .astype(np.dtype(DTYPES[datatype]).newbyteorder("<"), copy=False)
        .tobytes()
    )
    entry["parameters"] = {"binary_data_size": len(raw)}
    return entry, raw


def response_body(
    head: dict[str, Any], tensors: list[tuple[str, str, np.ndarray]], binary: set[str]
) -> tuple[bytes, int | None]:
    """The response: ``head`` (model name, id…) with ``outputs``; when some output is binary,
    the JSON part's length to send as Inference-Header-Content-Length."""
    entries, blobs = [], []
    for name, datatype, array in tensors:
        entry, raw = tensor_entry(name, datatype, array, name in binary)
        entries.append(entry)
        blobs.append(raw)
    text = orjson.dumps({**head, "outputs": entries}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not any(name in binary for name, _, _ in tensors):
        return text, None
    return text + b"".join(blobs), len(text)
