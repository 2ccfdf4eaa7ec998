"""Whether new data fits a model's record: the checks `zenopt predict` runs before a runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data.input_fit import ModelInput, check_kind, check_labels, check_shape

HERE = Path("new.npz")


def _record(shape: list[int], task: str, classes: list[str], **inputs: Any) -> dict[str, Any]:
    encoder = {"method": "onehot", "categories": inputs.pop("categories", {})}
    return {
        "input_shape": shape,
        "task": task,
        "class_names": classes,
        "inputs": {"numeric": inputs.pop("numeric", []), "encoder": encoder},
    }


def test_a_table_record_names_numeric_then_categorical_columns() -> None:
    record = _record([5], "binary", ["no", "yes"], numeric=["a", "b"], categories={"c": [1]})
    expected = ModelInput.from_record(record, DataConfig())
    assert expected.columns == ["a", "b", "c"]
    assert expected.describe() == "a table of 5 features (encoded from columns a, b, c)"
    with pytest.raises(DataError, match=r"^new.npz: 4 features per sample, but the model"):
        check_shape(np.zeros((2, 4)), HERE, expected)
    check_shape(np.zeros((2, 5)), HERE, expected)


def test_a_long_column_list_is_cut_to_one_line() -> None:
    names = [f"x{i}" for i in range(64)]
    expected = ModelInput.from_record(_record([64], "regression", [], numeric=names), DataConfig())
    assert (
        expected.describe()
        == "a table of 64 features (x0, x1, x2, x3, x4, x5, x6, x7, … (64 in all))"
    )


def test_a_regression_model_takes_any_numeric_label() -> None:
    expected = ModelInput.from_record(_record([3], "regression", []), DataConfig())
    check_labels(["1.5", "-20.0"], HERE, "npz", expected)


def test_images_resized_by_the_run_name_data_resize() -> None:
    expected = ModelInput.from_record(
        _record([3, 16, 16], "multiclass", ["a", "b"]), DataConfig(resize=16)
    )
    with pytest.raises(DataError) as info:
        check_shape(np.zeros((2, 1, 16, 16), np.float32), HERE, expected)
    assert str(info.value) == (
        "new.npz: images of 1×16×16, but the model takes images of 3×16×16 "
        "(channels×height×width); give RGB images (3 channels); new images are resized to the "
        "run's data.resize=16"
    )


def test_a_table_file_for_an_image_model_fails_before_reading() -> None:
    expected = ModelInput.from_record(_record([1, 28, 28], "binary", ["0", "1"]), DataConfig())
    with pytest.raises(DataError, match="a table, but the model takes images of 1×28×28"):
        check_kind(Path("missing.csv"), "table", expected)
    check_kind(Path("x.npz"), "npz", expected)  # an .npz can hold either: decided once read
