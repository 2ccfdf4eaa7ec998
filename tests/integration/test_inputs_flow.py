"""Every input kind through `zenopt run` from a config file, then `zenopt predict` on it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.conftest import FAST_BENCH
from tests.datafiles import digit_images, mixed_table, write_csv, write_idx, write_image_folder
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.core.config import apply_overrides

runner = CliRunner()


def _config(tmp: Path, data: dict[str, object], model: str, epochs: int = 15) -> Path:
    raw = apply_overrides(
        {"data": data, "model": {"name": model}}, [*FAST_BENCH, f"train.epochs={epochs}"]
    )
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _run(tmp: Path, config: Path) -> dict[str, object]:
    out = tmp / "run"
    result = runner.invoke(app, ["run", "--config", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    manifest: dict[str, object] = json.loads((out / "manifest.json").read_text())
    return manifest


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _assert_predict_reproduces_test_split(tmp: Path, data: Path) -> None:
    out = tmp / "run"
    result = runner.invoke(app, ["predict", str(out), str(data), "--out", str(tmp / "p.csv")])
    assert result.exit_code == 0, result.output
    predicted = _rows((tmp / "p.csv").read_text())
    own = _rows((out / "test_predictions.csv").read_text())
    assert own, "the run wrote its test predictions"
    for row in own:
        assert predicted[int(row["row"])]["prediction"] == row["prediction"]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_table_with_categories_and_missing_values(tmp_path: Path, kind: str) -> None:
    csv_path = write_csv(tmp_path / "t.csv", mixed_table(300))
    data = csv_path
    if kind == "parquet":
        data = tmp_path / "t.parquet"
        pd.read_csv(csv_path).to_parquet(data)
    config = _config(
        tmp_path, {"source": str(data), "target": "label", "impute": "median"}, "mlp", 30
    )
    manifest = _run(tmp_path, config)
    summary = manifest["data"]  # type: ignore[index]
    assert summary["categorical_columns"] == ["colour"]  # type: ignore[index]
    assert summary["missing_values"] == {"x2": 18}  # type: ignore[index]
    assert manifest["model"]["input_shape"] == [5]  # type: ignore[index]  # x1, x2 + 3 colours
    assert manifest["quality"]["test"]["accuracy"] > 0.8  # type: ignore[index]
    _assert_predict_reproduces_test_split(tmp_path, data)


@pytest.mark.slow
def test_predict_accepts_new_rows_without_labels_and_unseen_categories(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "t.csv", mixed_table(200))
    _run(
        tmp_path,
        _config(tmp_path, {"source": str(csv_path), "target": "label", "impute": "mean"}, "mlp"),
    )
    new = tmp_path / "new.csv"
    new.write_text("colour,x2,x1\npurple,,0.5\nred,1.0,NA\n")
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), str(new)])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert [r["row"] for r in rows] == ["0", "1"] and {r["prediction"] for r in rows} <= {
        "yes",
        "no",
    }


@pytest.mark.slow
def test_idx_gz_images(tmp_path: Path) -> None:
    images, labels = digit_images(300)
    data = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    manifest = _run(
        tmp_path, _config(tmp_path, {"source": str(data), "resize": 12}, "mnist_cnn", 8)
    )
    assert manifest["data"]["kind"] == "image"  # type: ignore[index]
    assert manifest["model"]["input_shape"] == [1, 12, 12]  # type: ignore[index]
    assert manifest["quality"]["test"]["accuracy"] > 0.7  # type: ignore[index]
    _assert_predict_reproduces_test_split(tmp_path, data)


@pytest.mark.slow
def test_image_folder(tmp_path: Path) -> None:
    images, labels = digit_images(200)
    root = write_image_folder(tmp_path / "imgs", images, labels)
    manifest = _run(tmp_path, _config(tmp_path, {"source": str(root)}, "mlp", 20))
    assert manifest["data"]["class_counts"] == {  # type: ignore[index]
        f"class_{c}": int((labels == c).sum()) for c in range(10)
    }
    assert manifest["quality"]["test"]["accuracy"] > 0.6  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["table", "images"])
def test_npz(tmp_path: Path, layout: str) -> None:
    images, labels = digit_images(200)
    X = images.reshape(len(images), -1) if layout == "table" else images
    np.savez(tmp_path / "d.npz", X=X, y=labels)
    manifest = _run(tmp_path, _config(tmp_path, {"source": str(tmp_path / "d.npz")}, "mlp", 20))
    assert manifest["data"]["kind"] == ("table" if layout == "table" else "image")  # type: ignore[index]
    assert manifest["quality"]["test"]["accuracy"] > 0.6  # type: ignore[index]
    _assert_predict_reproduces_test_split(tmp_path, tmp_path / "d.npz")


@pytest.mark.slow
def test_predict_labels_written_as_floats_and_unlabelled_images(tmp_path: Path) -> None:
    """Labels '1.0' mean class '1' as in training; IDX images without labels still predict."""
    images, labels = digit_images(300)
    data = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    _run(tmp_path, _config(tmp_path, {"source": str(data)}, "mlp", 15))
    alone = tmp_path / "new"
    alone.mkdir()
    write_idx(alone / "new-images-idx3-ubyte.gz", images[:7])
    result = runner.invoke(
        app, ["predict", str(tmp_path / "run"), str(alone / "new-images-idx3-ubyte.gz")]
    )
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert len(rows) == 7 and "label" not in rows[0]
    np.savez(tmp_path / "floats.npz", X=images, y=labels.astype(np.float64))  # y as 0.0 … 9.0
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), str(tmp_path / "floats.npz")])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert {r["label"] for r in rows} == {str(d) for d in range(10)}
    hits = np.mean([r["label"] == r["prediction"] for r in rows])
    assert f"accuracy {hits:.4f}" in result.output and hits > 0.8


@pytest.mark.slow
def test_predict_regression_reports_mse(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = X @ np.array([2.0, -1.0, 0.5, 0.0]) + 10
    np.savez(tmp_path / "r.npz", X=X, y=y)
    _run(tmp_path, _config(tmp_path, {"source": str(tmp_path / "r.npz")}, "mlp", 30))
    result = runner.invoke(app, ["predict", str(tmp_path / "run"), str(tmp_path / "r.npz")])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    predicted = np.array([float(r["prediction"]) for r in rows])
    mse = float(np.mean((predicted - y) ** 2))
    assert f"MSE {mse:.6g}" in result.output and mse < 1.0
