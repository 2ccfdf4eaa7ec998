"""OIP tensors on the wire, against Triton's own client library: what it encodes we decode to
the same arrays, and what we encode it decodes back."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenopt.serve.tensors import (
    ClientError,
    decode_bytes,
    encode_bytes,
    parse_infer_request,
    response_body,
)

triton = pytest.importorskip("tritonclient.http")
triton_utils = pytest.importorskip("tritonclient.utils")


def _request(arrays: dict[str, np.ndarray], binary: bool) -> tuple[bytes, str | None]:
    inputs = []
    for name, array in arrays.items():
        datatype = triton_utils.np_to_triton_dtype(array.dtype)
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    body, length = triton.InferenceServerClient.generate_request_body(inputs, request_id="7")
    return body, None if length is None else str(length)


@pytest.mark.parametrize("binary", [True, False])
def test_tritons_requests_decode_to_the_same_arrays(binary: bool) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "pixels": rng.normal(size=(3, 1, 4, 4)).astype(np.float32),
        "counts": rng.integers(-5, 5, size=(3,)).astype(np.int64),
        "wide": rng.normal(size=(3,)),
        "small": rng.integers(0, 255, size=(3, 2)).astype(np.uint8),
        "colour": np.asarray(["red", "grün", ""], dtype=object),
    }
    request = parse_infer_request(*_request(arrays, binary))
    assert request.id == "7"
    assert request.outputs is None and request.all_binary  # Triton's default: binary outputs
    for tensor in request.inputs:
        expected = arrays[tensor.name]
        assert tensor.shape == expected.shape
        if tensor.datatype == "BYTES":
            assert list(tensor.array) == list(expected)
        else:
            np.testing.assert_array_equal(tensor.array, expected)
            assert tensor.array.dtype == expected.dtype


@given(st.lists(st.text(max_size=20), min_size=0, max_size=12))
@settings(max_examples=60, deadline=None)
def test_bytes_round_trip_matches_tritons_serialisation(values: list[str]) -> None:
    array = np.asarray(values, dtype=object)
    ours = encode_bytes(array)
    if values:  # Triton's serialiser returns None for an empty tensor
        assert ours == triton_utils.serialize_byte_tensor(array).item()
    assert list(decode_bytes(ours, len(values), "x")) == values


def test_truncated_bytes_are_refused() -> None:
    raw = encode_bytes(np.asarray(["abc", "de"], dtype=object))
    with pytest.raises(ClientError, match="does not hold 2 length-prefixed elements"):
        decode_bytes(raw[:-1], 2, "input 'colour'")


@pytest.mark.parametrize("binary", [True, False])
def test_responses_parse_with_tritons_client(binary: bool) -> None:
    probabilities = np.asarray([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    labels = np.asarray(["yes", "no"], dtype=object)
    tensors = [("probabilities", "FP32", probabilities), ("label", "BYTES", labels)]
    names = {"probabilities", "label"} if binary else set()
    body, length = response_body({"model_name": "m", "id": "9"}, tensors, names)
    assert (length is not None) == binary
    result = triton.InferenceServerClient.parse_response_body(body, header_length=length)
    np.testing.assert_array_equal(result.as_numpy("probabilities"), probabilities)
    decoded = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]
    assert decoded == ["yes", "no"]
    assert result.get_response()["id"] == "9"


def test_nested_json_data_is_taken_in_row_major_order() -> None:
    body = b'{"inputs": [{"name": "a", "shape": [2, 3], "datatype": "FP32", '
    body += b'"data": [[1,2,3],[4,5,6]]}]}'
    (tensor,) = parse_infer_request(body, None).inputs
    np.testing.assert_array_equal(tensor.array, np.arange(1, 7, dtype=np.float32).reshape(2, 3))
