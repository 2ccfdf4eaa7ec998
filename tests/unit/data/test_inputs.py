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
