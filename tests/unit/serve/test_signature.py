"""A table request is encoded exactly as ``zenopt predict`` encodes the same rows read from a
file (CSV and Parquet): missing tokens, unseen categories, numbers sent for a categorical
column. And which tensors a model takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from zenopt.core.config import DataConfig
from zenopt.data.inference import read_for_prediction
from zenopt.serve.signature import Signature
from zenopt.serve.tensors import ClientError, RequestTensor

CATEGORIES = {"colour": ["red", "blue", "(missing)"], "zip": ["94110.0", "10001.0"]}


def _model(method: str) -> dict[str, Any]:
    width = 2 + (5 if method == "onehot" else 2)
    return {
        "input_shape": [width], "head": "softmax", "class_names": ["a", "b"],
        "inputs": {"numeric": ["x1", "x2"],
                   "encoder": {"method": method, "categories": CATEGORIES}},
    }  # fmt: skip


def _tensor(name: str, datatype: str, values: list[Any]) -> RequestTensor:
    dtype = object if datatype == "BYTES" else {"FP64": np.float64, "INT64": np.int64}[datatype]
    array = np.asarray(values, dtype=dtype)
    return RequestTensor(name, datatype, array.shape, array)


@pytest.mark.parametrize("method", ["onehot", "ordinal"])
def test_a_request_encodes_as_predict_encodes_a_parquet_file(method: str, tmp_path: Path) -> None:
    x1 = [0.5, -1.25, 3.0, 7.5, 0.0]
    x2 = [1.0, np.nan, 2.5, np.nan, -4.0]
    colour = ["red", "blue", "", "purple", " red "]  # missing, unseen, padded
    zips = [94110.0, 10001.0, 99999.0, 94110.0, 10001.0]  # a float column in Parquet
    path = tmp_path / "new.parquet"
    pd.DataFrame({"x1": x1, "x2": x2, "colour": colour, "zip": zips}).to_parquet(path)
    config = DataConfig(impute="median")
    expected = read_for_prediction(path, config, _model(method)["inputs"], "multiclass").X
    signature = Signature(_model(method), "median")
    got = signature.encode([
        _tensor("x1", "FP64", x1), _tensor("x2", "FP64", [None if np.isnan(v) else v for v in x2]),
        _tensor("colour", "BYTES", colour),
        _tensor("zip", "INT64", [int(z) for z in zips]),  # numbers for the categorical column
    ])  # fmt: skip
    np.testing.assert_array_equal(got, expected)


def test_csv_missing_tokens_are_missing_categories(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("x1,x2,colour,zip\n1,2,NA,94110.0\n1,2,?,10001.0\n1,2,blue,x\n")
    expected = read_for_prediction(path, DataConfig(), _model("onehot")["inputs"], "multiclass").X
    got = Signature(_model("onehot"), "none").encode([
        _tensor("x1", "FP64", [1, 1, 1]), _tensor("x2", "FP64", [2, 2, 2]),
        _tensor("colour", "BYTES", ["NA", None, "blue"]),
        _tensor("zip", "BYTES", ["94110.0", "10001.0", "x"]),
    ])  # fmt: skip
    np.testing.assert_array_equal(got, expected)


def test_a_missing_number_is_refused_without_imputation() -> None:
    signature = Signature(_model("onehot"), "none")
    tensors = [
        _tensor("x1", "FP64", [1.0, None]),
        _tensor("x2", "FP64", [1.0, 2.0]),
        _tensor("colour", "BYTES", ["red", "red"]),
        _tensor("zip", "BYTES", ["", ""]),
    ]
    with pytest.raises(ClientError, match="input 'x1': row 1 holds NaN"):
        signature.encode(tensors)


def test_which_tensors_a_model_takes() -> None:
    table = Signature(_model("onehot"), "none")
    assert [(t.name, t.datatype) for t in table.inputs] == [
        ("x1", "FP64"), ("x2", "FP64"), ("colour", "BYTES"), ("zip", "BYTES")
    ]  # fmt: skip
    npz = {
        **_model("onehot"),
        "input_shape": [6],
        "inputs": {"numeric": [f"x{i}" for i in range(6)]},
    }
    matrix = Signature(npz, "none", matrix=True)  # an .npz table: one feature matrix
    assert [t.metadata() for t in matrix.inputs] == [
        {"name": "input", "datatype": "FP32", "shape": [-1, 6]}
    ]
    image = Signature({**npz, "input_shape": [3, 8, 8]}, "none")
    assert image.inputs[0].metadata()["shape"] == [-1, 3, 8, 8]
    regression = Signature({**npz, "head": "identity"}, "none", matrix=True)
    assert [t.name for t in regression.outputs] == ["value"]


def test_numbers_and_booleans_find_their_category_and_unseen_values_are_counted() -> None:
    model = _model("onehot")
    model["inputs"]["encoder"]["categories"] = {"colour": ["true", "false"], "zip": ["94110"]}
    model["input_shape"] = [2 + 3]
    heard: list[tuple[str, int]] = []
    got = Signature(model, "none").encode(
        [
            _tensor("x1", "FP64", [0.0, 0.0, 0.0]),
            _tensor("x2", "FP64", [0.0, 0.0, 0.0]),
            # JSON's true, as parsed from a BYTES tensor's data; a float for an int category
            _tensor("colour", "BYTES", ["true", "false", "maybe"]),
            _tensor("zip", "BYTES", [94110.0, 94110, "10001"]),
        ],
        lambda column, n: heard.append((column, n)),
    )
    np.testing.assert_array_equal(
        got[:, 2:], [[1, 0, 1], [0, 1, 1], [0, 0, 0]]
    )  # colour=true, colour=false, zip=94110
    assert heard == [("colour", 1), ("zip", 1)]
