from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data import load_dataset


@pytest.mark.parametrize(
    ("name", "task", "shape", "classes"),
    [
        ("breast_cancer", "binary", (30,), 2),
        ("wine", "multiclass", (13,), 3),
        ("iris", "multiclass", (4,), 3),
        ("diabetes", "regression", (10,), 0),
    ],
)
def test_bundled_tables(name: str, task: str, shape: tuple[int, ...], classes: int) -> None:
    ds = load_dataset(DataConfig(source=name))
    assert ds.task == task and ds.kind == "table"
    assert ds.input_shape == shape and ds.num_classes == classes
    assert ds.X.dtype == np.float32
    assert ds.y.dtype == (np.float32 if task == "regression" else np.int64)


def test_digits_resized_to_28_keeps_labels_and_intensity_range() -> None:
    ds = load_dataset(DataConfig(source="digits", resize=28))
    reference = datasets.load_digits()
    assert ds.X.shape == (reference.images.shape[0], 1, 28, 28)
    np.testing.assert_array_equal(ds.y, reference.target)
    assert ds.X.min() >= 0.0 and ds.X.max() <= 16.0
    # Bilinear upsampling keeps the mean intensity close to the original's.
    assert ds.X.mean() == pytest.approx(reference.images.mean(), rel=0.05)


def test_digits_without_resize_is_the_original_8x8() -> None:
    ds = load_dataset(DataConfig(source="digits", resize=None))
    np.testing.assert_array_equal(ds.X[:, 0], datasets.load_digits().images.astype(np.float32))


def test_explicit_resize_on_a_table_is_an_error() -> None:
    with pytest.raises(DataError, match="is a table, not images"):
        load_dataset(DataConfig(source="iris", resize=28))
    load_dataset(DataConfig(source="iris"))  # the default resize is ignored for tables


def test_task_mismatch_with_bundled_set() -> None:
    with pytest.raises(DataError, match="classification data set"):
        load_dataset(DataConfig(source="iris", task="regression"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_with_string_labels(tmp_path: Path) -> None:
    csv = _write(tmp_path / "t.csv", "a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,bird\n")
    ds = load_dataset(DataConfig(source=str(csv), target="label"))
    assert ds.class_names == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(ds.y, [1, 2, 1, 0])
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4], [5, 6], [7, 8]])
    assert ds.feature_names == ["a", "b"] and ds.task == "multiclass"


def test_csv_binary_and_regression_auto_detection(tmp_path: Path) -> None:
    binary = _write(tmp_path / "b.csv", "x,y\n1,0\n2,1\n3,1\n")
    assert load_dataset(DataConfig(source=str(binary), target="y")).task == "binary"
    rows = "\n".join(f"{i * 0.5},{i * 0.37:.3f}" for i in range(40))
    reg = _write(tmp_path / "r.csv", "x,y\n" + rows + "\n")
    ds = load_dataset(DataConfig(source=str(reg), target="y"))
    assert ds.task == "regression"
    assert ds.y[3] == pytest.approx(1.11)


@pytest.mark.parametrize(
    ("text", "target", "message"),
    [
        ("a,b\n1,2\n", "c", "target column 'c' not found; columns are: a, b"),
        ("a,b\n1,2\n", None, "data.target is not set"),
        ("a,b\n", "b", "header only, no data rows"),
        ("a,b\n1,0\nx,1\n", "b", "line 3, column 'a': 'x' is not a number"),
        ("a,b\n1,0\n,1\n", "b", "line 3, column 'a': missing value and no imputation"),
        ("a,b\n1,0\n2\n", "b", "line 3 has 1 fields, the header has 2"),
        ("a,b\n1,0\n2,0\n", "b", "has one class only"),
        ("a,b\n1,0\n2,\n", "b", "line 3: target 'b' is empty"),
        ("a,b\n\n1,0\n\nx,1\n", "b", "line 5, column 'a': 'x' is not a number"),
    ],
)
def test_csv_errors_name_the_place(
    tmp_path: Path, text: str, target: str | None, message: str
) -> None:
    csv = _write(tmp_path / "d.csv", text)
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source=str(csv), target=target))
    assert message in str(info.value)
    assert str(csv) in str(info.value)


def test_unknown_source_lists_bundled_sets() -> None:
    with pytest.raises(
        DataError, match="neither a bundled data set .*digits.*nor an existing file"
    ):
        load_dataset(DataConfig(source="mnist_full"))
