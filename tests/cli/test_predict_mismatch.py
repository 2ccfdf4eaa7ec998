"""`zenopt predict` on data that does not fit the model: one line naming what the model takes
and what the data is, exit 2, no traceback — in either backend."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import fast_overrides
from tests.datafiles import digit_images, write_idx, write_image_folder
from typer.testing import CliRunner

from zenopt.cli.app import app

runner = CliRunner()
Write = Callable[[Path], Path]  # writes the data to predict on under a folder; returns its path

IRIS = "sepal length (cm), sepal width (cm), petal length (cm), petal width (cm)"
IRIS_TAKES = f"the model takes a table of 4 features ({IRIS})"
DIGITS_TAKES = "the model takes images of 1×8×8 (channels×height×width)"
AT_OWN_SIZE = "the run did not set data.resize, so new images are used at their own size"
IMAGES, LABELS = digit_images(150)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run of an MLP on 8×8 digit images read from IDX files (no data.resize)."""
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    folder = tmp_path_factory.mktemp("digits")
    source = write_idx(folder / "train-images-idx3-ubyte", IMAGES)
    write_idx(folder / "train-labels-idx1-ubyte", LABELS)
    overrides = [f"data.source={source}", "model.name=mlp", "data.resize=null"]
    config = load_config(None, fast_overrides(*overrides, epochs=2))
    run_pipeline(config, folder / "run", console=Console(quiet=True), quiet=True)
    return folder / "run"


def _npz(**arrays: Any) -> Write:
    def write(tmp: Path) -> Path:
        np.savez(tmp / "new.npz", **arrays)
        return tmp / "new.npz"

    return write


def _idx(images: np.ndarray) -> Write:
    return lambda tmp: write_idx(tmp / "new-images-idx3-ubyte", images)


def _text(name: str, text: str) -> Write:
    def write(tmp: Path) -> Path:
        (tmp / name).write_text(text)
        return tmp / name

    return write


def _classes(tmp: Path) -> Path:
    return write_image_folder(tmp / "imgs", IMAGES[:4], LABELS[:4])


def _renamed_classes(tmp: Path) -> Path:
    root = write_image_folder(tmp / "imgs", IMAGES[:4], LABELS[:4])
    for folder in sorted(root.iterdir()):
        folder.rename(root / f"digit_{folder.name}")
    return root


def _empty_folder(tmp: Path) -> Path:
    (tmp / "imgs").mkdir()
    return tmp / "imgs"


def _parquet(tmp: Path) -> Path:
    import pandas as pd

    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(tmp / "new.parquet")
    return tmp / "new.parquet"


# (case, run, backend, data, expected line): {t} is the data's folder
CASES: list[tuple[str, str, str, Write, str]] = [
    (
        "table model, IDX images",
        "iris",
        "onnxruntime",
        _idx(IMAGES[:5]),
        "{t}/new-images-idx3-ubyte: IDX images, but "
        + IRIS_TAKES
        + "; give a .csv or .parquet with these columns, or an .npz with X of shape (n, 4)",
    ),
    (
        "table model, image folder, torch",
        "iris",
        "torch",
        _classes,
        "{t}/imgs: an image folder, but "
        + IRIS_TAKES
        + "; give a .csv or .parquet with these columns, or an .npz with X of shape (n, 4)",
    ),
    (
        "table model, npz of images",
        "iris",
        "onnxruntime",
        _npz(X=IMAGES[:5]),
        "{t}/new.npz: X holds images of 1×8×8 per sample, but "
        + IRIS_TAKES
        + "; give X of shape (n, 4)",
    ),
    (
        "table model, npz with 5 features, torch",
        "iris",
        "torch",
        _npz(X=np.zeros((3, 5))),
        "{t}/new.npz: 5 features per sample, but "
        + IRIS_TAKES
        + "; give X of shape (n, 4), columns in that order",
    ),
    (
        "table model, labels not its classes",
        "iris",
        "onnxruntime",
        _npz(X=np.zeros((3, 4)), y=np.array([0, 1, 2])),
        "{t}/new.npz: label '0' (sample 1) is not one of the model's classes (setosa, "
        "versicolor, virginica); use the model's class names, or leave the labels out to "
        "predict without scoring (save X without y)",
    ),
    (
        "table model, missing column",
        "iris",
        "onnxruntime",
        _text("new.csv", "sepal length (cm),petal width (cm)\n1,2\n"),
        f"{{t}}/new.csv: column 'sepal width (cm)' is missing; the model was trained on: {IRIS}",
    ),
    (
        "table model, header-only csv",
        "iris",
        "onnxruntime",
        _text("new.csv", IRIS.replace(", ", ",") + "\n"),
        "{t}/new.csv: header only, no data rows; add rows",
    ),
    (
        "image model, csv",
        "digits",
        "onnxruntime",
        _text("new.csv", "a,b\n1,2\n"),
        "{t}/new.csv: a table, but "
        + DIGITS_TAKES
        + "; give an image folder, an IDX file or an .npz with X of images",
    ),
    (
        "image model, parquet, torch",
        "digits",
        "torch",
        _parquet,
        "{t}/new.parquet: a table, but "
        + DIGITS_TAKES
        + "; give an image folder, an IDX file or an .npz with X of images",
    ),
    (
        "image model, larger images",
        "digits",
        "onnxruntime",
        _idx(np.zeros((3, 12, 12), np.uint8)),
        "{t}/new-images-idx3-ubyte: images of 1×12×12, but "
        + DIGITS_TAKES
        + f"; {AT_OWN_SIZE}: give 8×8 images, or train with data.resize=8",
    ),
    (
        "image model, RGB images, torch",
        "digits",
        "torch",
        _npz(X=np.zeros((3, 3, 8, 8))),
        "{t}/new.npz: images of 3×8×8, but "
        + DIGITS_TAKES
        + f"; give grayscale images (1 channel); {AT_OWN_SIZE}",
    ),
    (
        "image model, flat npz",
        "digits",
        "onnxruntime",
        _npz(X=np.zeros((3, 64))),
        "{t}/new.npz: 64 features per sample (a table), but "
        + DIGITS_TAKES
        + "; give X of images (reshape X to (n, 1, 8, 8))",
    ),
    (
        "image model, empty folder",
        "digits",
        "onnxruntime",
        _empty_folder,
        "{t}/imgs: no images (.bmp, .gif, .jpeg, .jpg, .png) in it or in class sub-folders; "
        "nothing to predict",
    ),
    (
        "image model, folders not its classes",
        "digits",
        "onnxruntime",
        _renamed_classes,
        "{t}/imgs: label 'digit_class_0' (sample 1) is not one of the model's classes (0, 1, "
        "2, 3, 4, 5, 6, 7, … (10 in all)); use the model's class names, or leave the labels "
        "out to predict without scoring (put the images directly in the folder, not in class "
        "sub-folders)",
    ),
]


@pytest.fixture
def runs(iris_run: tuple[Path, dict[str, Any]], digits_run: Path) -> dict[str, Path]:
    return {"iris": iris_run[0], "digits": digits_run}


def _one_error_line(args: list[str]) -> str:
    result = runner.invoke(app, ["predict", *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an escaped exception
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("case", "run", "backend", "write", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_mismatch_is_one_line(
    tmp_path: Path,
    runs: dict[str, Path],
    case: str,
    run: str,
    backend: str,
    write: Write,
    expected: str,
) -> None:
    data = write(tmp_path)
    line = _one_error_line([str(runs[run]), str(data), "--backend", backend])
    assert line == "error: " + expected.format(t=tmp_path)


@pytest.mark.parametrize(
    ("backend", "damaged"), [("onnxruntime", "model.onnx"), ("torch", "model.safetensors")]
)
def test_a_damaged_model_is_one_line(
    tmp_path: Path, iris_run: tuple[Path, dict[str, Any]], backend: str, damaged: str
) -> None:
    run = shutil.copytree(iris_run[0], tmp_path / "run")
    (run / damaged).write_bytes(b"not a model")
    data = _npz(X=np.zeros((3, 4)))(tmp_path)
    line = _one_error_line([str(run), str(data), "--backend", backend])
    assert line.startswith("error: ") and damaged in line


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_whatever_the_runtime_raises_is_one_line(
    tmp_path: Path,
    iris_run: tuple[Path, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
) -> None:
    """Past the checks, an error from inside a runtime still reaches the user as one line."""

    def fail(*args: object) -> None:
        raise RuntimeError("INVALID_ARGUMENT : something deep\n  second line")

    monkeypatch.setattr("zenopt.runtime.predictor.predict_with_backend", fail)
    data = _npz(X=np.zeros((3, 4)))(tmp_path)
    line = _one_error_line([str(iris_run[0]), str(data), "--backend", backend])
    artifact = iris_run[0] / ("model.onnx" if backend == "onnxruntime" else "model.json")
    assert line == (
        f"error: {backend} could not run the FP32 export ({artifact}) on {data} (input of "
        "shape (3, 4)): INVALID_ARGUMENT : something deep"
    )


def test_images_directly_in_a_folder_are_predicted_without_labels(
    tmp_path: Path, digits_run: Path
) -> None:
    from PIL import Image

    (tmp_path / "imgs").mkdir()
    for i, image in enumerate(IMAGES[:3]):
        Image.fromarray(image).save(tmp_path / "imgs" / f"{i}.png")
    result = runner.invoke(app, ["predict", str(digits_run), str(tmp_path / "imgs")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "row,prediction"
    assert len(result.stdout.splitlines()) == 4


def test_out_is_a_file_outside_the_run(
    tmp_path: Path, iris_run: tuple[Path, dict[str, Any]]
) -> None:
    """--out a folder, or a file of the run itself (its manifest), is one line, exit 2, and
    the run's files are left as they were."""
    import numpy as np

    run, data = iris_run[0], str(tmp_path / "x.npz")
    np.savez(data, X=np.ones((3, 4), np.float32))
    manifest = (run / "manifest.json").read_bytes()
    line = _one_error_line([str(run), data, "--out", str(tmp_path)])
    suggestion = tmp_path / "predictions.csv"
    assert line == f"error: --out {tmp_path}: a folder; give a file name, e.g. --out {suggestion}"
    own = run / "manifest.json"
    line = _one_error_line([str(run), data, "--out", str(own)])
    expected = f"a file of the run in {run.resolve()}; write the predictions outside it"
    assert line == f"error: --out {own}: {expected}"
    assert own.read_bytes() == manifest
