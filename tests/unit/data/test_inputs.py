"""Each input kind loads into the same Dataset, checked against the arrays that were written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.datafiles import digit_images, mixed_table, write_csv, write_idx, write_image_folder

from zenopt.core.config import DataConfig
from zenopt.data import load_dataset, split_dataset
from zenopt.data.encode import MISSING_CATEGORY, CategoricalEncoder
from zenopt.data.prepare import prepare


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_idx_images_with_labels_found_next_to_them(tmp_path: Path, name: str) -> None:
    images, labels = digit_images(50)
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / name.replace("images-idx3", "labels-idx1"), labels)
    ds = load_dataset(DataConfig(source=str(tmp_path / name)))
    assert ds.kind == "image" and ds.X.shape == (50, 1, 8, 8)
    np.testing.assert_array_equal(ds.X[:, 0], images.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(ds.class_names)[ds.y], labels.astype(str))


def test_idx_resize_when_asked(tmp_path: Path) -> None:
    images, labels = digit_images(20)
    write_idx(tmp_path / "imgs-idx3-ubyte", images)
    write_idx(tmp_path / "labs-idx1-ubyte", labels)
    config = DataConfig(
        source=str(tmp_path / "imgs-idx3-ubyte"),
        labels=str(tmp_path / "labs-idx1-ubyte"),
        resize=28,
    )
    assert load_dataset(config).X.shape == (20, 1, 28, 28)


def test_npz_images_channels_last_and_tables(tmp_path: Path) -> None:
    images, labels = digit_images(30)
    np.savez(tmp_path / "img.npz", X=images[..., None], y=labels)
    ds = load_dataset(DataConfig(source=str(tmp_path / "img.npz")))
    assert ds.kind == "image" and ds.X.shape == (30, 1, 8, 8)
    np.testing.assert_array_equal(ds.X[:, 0], images)
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X[:, 0] * 2.5 + 0.1
    np.savez(tmp_path / "reg.npz", X=X, y=y)
    reg = load_dataset(DataConfig(source=str(tmp_path / "reg.npz")))
    assert reg.task == "regression" and reg.kind == "table"
    np.testing.assert_allclose(reg.y, y, rtol=1e-6)


def test_image_folder_grayscale_and_rgb(tmp_path: Path) -> None:
    images, labels = digit_images(24)
    write_image_folder(tmp_path / "imgs", images, labels)
    ds = load_dataset(DataConfig(source=str(tmp_path / "imgs")))
    assert ds.X.shape == (24, 1, 8, 8) and ds.task == "multiclass"
    first = sorted((tmp_path / "imgs").glob("class_*"))[0]
    first_label = int(first.name.split("_")[1])
    np.testing.assert_array_equal(ds.X[0, 0], images[labels == first_label][0])
    rgb = load_dataset(DataConfig(source=str(tmp_path / "imgs"), color="rgb", resize=16))
    assert rgb.X.shape == (24, 3, 16, 16)


def test_csv_and_parquet_give_the_same_table(tmp_path: Path) -> None:
    columns = mixed_table(60)
    csv = write_csv(tmp_path / "t.csv", columns)
    frame = pd.read_csv(csv)
    frame.to_parquet(tmp_path / "t.parquet")
    a = load_dataset(DataConfig(source=str(csv), target="label", impute="median"))
    b = load_dataset(
        DataConfig(source=str(tmp_path / "t.parquet"), target="label", impute="median")
    )
    assert a.feature_names == b.feature_names == ["x1", "x2"]
    assert list(a.categorical) == list(b.categorical) == ["colour"]
    np.testing.assert_allclose(a.X, b.X, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(a.y, b.y)
    assert int(np.isnan(a.X[:, 1]).sum()) == len(range(0, 60, 17))
    assert a.summary()["missing_values"] == {"x2": 4}


def test_missing_tokens_are_missing(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("a,b,y\n1,NA,0\n2,NaN,1\n3,,0\n4,null,1\n5,7,0\n6,8,1\n")
    ds = load_dataset(DataConfig(source=str(csv), target="y", impute="mean"))
    assert int(np.isnan(ds.X[:, 1]).sum()) == 4


def test_encoder_learns_categories_from_training_rows_only() -> None:
    train = {"c": np.array(["a", "b", "a", None], dtype=object)}
    encoder = CategoricalEncoder("onehot").fit(train)
    assert encoder.categories_ == {"c": ["a", MISSING_CATEGORY, "b"]}
    unseen = encoder.transform({"c": np.array(["z", "b"], dtype=object)}, 2)
    np.testing.assert_array_equal(unseen, [[0, 0, 0], [0, 0, 1]])
    ordinal = CategoricalEncoder("ordinal").fit(train)
    np.testing.assert_array_equal(
        ordinal.transform({"c": np.array(["b", "z"], dtype=object)}, 2), [[2], [-1]]
    )
    again = CategoricalEncoder.from_dict(encoder.to_dict())
    assert again == encoder


def test_prepare_imputes_with_training_statistics_only(tmp_path: Path) -> None:
    from sklearn.impute import SimpleImputer

    csv = write_csv(tmp_path / "t.csv", mixed_table(200))
    config = DataConfig(source=str(csv), target="label", impute="median")
    ds = load_dataset(config)
    splits = split_dataset(ds, 0.15, 0.2, 0)
    prepared = prepare(ds, splits, config)
    reference = SimpleImputer(strategy="median").fit(splits.train.X)
    fill = prepared.transform.arrays["fill"]
    np.testing.assert_allclose(fill[:2], reference.statistics_, rtol=1e-6)
    assert prepared.feature_names[:2] == ["x1", "x2"] and len(prepared.feature_names) == 5
    assert not np.isnan(prepared.model_input(prepared.splits.test.X)).any()


def _split_by_hand(ds, train: np.ndarray, test: np.ndarray):  # type: ignore[no-untyped-def]
    from zenopt.data.dataset import Split, Splits

    def part(idx: np.ndarray) -> Split:
        return Split(ds.X[idx], ds.y[idx], idx, {k: v[idx] for k, v in ds.categorical.items()})

    return Splits(part(train), part(test[:2]), part(test))


def test_prepare_learns_only_from_training_rows(tmp_path: Path) -> None:
    """A category and an outlier that exist only in test rows change nothing that is fitted."""
    rows = ["x,colour,y"] + [f"{i % 5},{['red', 'blue'][i % 2]},{i % 2}" for i in range(40)]
    rows += ["1000,purple,0", "2,purple,1"]  # test-only rows
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    config = DataConfig(
        source=str(csv_path), target="y", clip="quantile", clip_quantiles=(0.0, 1.0)
    )
    ds = load_dataset(config)
    splits = _split_by_hand(ds, np.arange(40), np.arange(40, 42))
    prepared = prepare(ds, splits, config)
    assert prepared.encoder.categories_ == {"colour": ["blue", "red"]}
    assert prepared.feature_names == ["x", "colour=blue", "colour=red"]
    np.testing.assert_array_equal(prepared.splits.test.X[:, 1:], [[0, 0], [0, 0]])  # unseen → zeros
    assert prepared.transform.arrays["clip_hi"][0] == 4.0  # the max of training x, not 1000


def test_variance_selection_works_with_scaling(tmp_path: Path) -> None:
    """Variance is judged before scaling (after it every column would have variance 1)."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(0, 5, 100), rng.normal(0, 0.01, 100), rng.normal(0, 3, 100)])
    np.savez(tmp_path / "v.npz", X=X, y=rng.integers(0, 2, 100))
    config = DataConfig(source=str(tmp_path / "v.npz"), select="variance", variance_threshold=0.5)
    ds = load_dataset(config)
    prepared = prepare(ds, split_dataset(ds, 0.15, 0.2, 0), config)
    assert prepared.transform.selected_features == ["x0", "x2"]


def test_duplicates_are_found_across_text_columns_and_dropped() -> None:
    from zenopt.data.dataset import Dataset

    X = np.array([[1.0, np.nan], [1.0, np.nan], [1.0, 2.0], [1.0, np.nan]], np.float32)
    cats = {"c": np.array(["a", "a", "a", "b"], dtype=object)}
    ds = Dataset("d", X, np.array([0, 0, 0, 0]), "binary", "table", ["p", "q"], ["n", "y"], cats)
    assert ds.duplicate_rows() == 1  # row 1 repeats row 0 (NaN equals NaN); row 3 differs in c
    kept, dropped = ds.without_duplicates()
    assert dropped == 1 and kept.X.shape[0] == 3 and list(kept.categorical["c"]) == ["a", "a", "b"]


def test_npz_table_with_missing_values_needs_imputation(tmp_path: Path) -> None:
    from zenopt.core.errors import DataError

    X = np.arange(40, dtype=np.float64).reshape(20, 2)
    X[3, 1] = np.nan
    np.savez(tmp_path / "m.npz", X=X, y=np.arange(20) % 2)
    ds = load_dataset(DataConfig(source=str(tmp_path / "m.npz"), impute="mean"))
    assert np.isnan(ds.X[3, 1])
    with pytest.raises(DataError, match=r"X\[3\] has a NaN or infinite value at flat index 1"):
        load_dataset(DataConfig(source=str(tmp_path / "m.npz")))
