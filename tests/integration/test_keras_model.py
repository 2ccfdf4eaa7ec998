"""``model.name: keras:PATH``: a Keras model (a ``.keras`` file, or a TensorFlow SavedModel
folder through tf2onnx) exported to ONNX in a child process and optimized by the ONNX path.
The reference is Keras itself: the run's accuracy on its validation and test rows must be
what Keras's own predictions give on those rows; the run quantizes; and what cannot be done
is one line and exit 2. Needs the optional extra (``zenopt[tensorflow]``, which ``make
test`` installs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import FAST_BENCH
from tests.keras_models import keras_digits
from typer.testing import CliRunner

from zenopt.cli.app import app

pytest.importorskip("keras")
pytest.importorskip("tf2onnx")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The Keras files, with zenopt's cache (where their ONNX exports go) in a folder of the
    tests' own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZENOPT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield keras_digits(tmp_path_factory.mktemp("keras"))


def _run(model: str, out: Path, *extra: str) -> Any:
    args = ["run", "--out", str(out), "--quiet"]
    for item in [*FAST_BENCH, f"model.name={model}", "data.source=digits", *extra]:
        args += ["--set", item]
    return CliRunner().invoke(app, args)


def _keras_accuracy(manifest: dict[str, Any], scores: np.ndarray, split: str) -> float:
    """Keras's own accuracy on the rows the run held as ``split`` (matched by their pixels)."""
    from sklearn.datasets import load_digits

    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data

    part = getattr(
        prepare_data(RunConfig.model_validate(manifest["config"])).prepared.splits, split
    )
    images = load_digits().images.astype(np.float32)
    by_pixels = {img.tobytes(): s for img, s in zip(images, scores, strict=True)}
    predicted = np.array(
        [by_pixels[row[0].astype(np.float32).tobytes()].argmax() for row in part.X]
    )
    return float(np.mean(predicted == part.y))


def test_a_keras_file_is_measured_as_keras_predicts_and_quantizes(
    keras_files: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    model, _, scores = keras_files
    result = _run(f"keras:{model}", tmp_path / "run", "requirements.min_accuracy=0.5")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["training"]["epochs_run"] == 0
    assert manifest["model"]["params"]["source"]["model"] == f"keras:{model}"
    assert manifest["model"]["params"]["permute"] == [0, 2, 3, 1]  # Keras: channels last
    assert manifest["model"]["name"] == "onnx"  # converted to PyTorch (its Slice included)
    for split, key in (("val", "validation"), ("test", "test")):
        want = _keras_accuracy(manifest, scores, split)
        assert manifest["quality"][key]["accuracy"] == pytest.approx(want, abs=1e-9)
    plan = "quantize(mode=static) -> runtime(name=onnxruntime)"
    quantized = CliRunner().invoke(app, ["compress", str(tmp_path / "run"), "--plan", plan,
                                         "--name", "int8", "--quiet"])  # fmt: skip
    assert quantized.exit_code in (0, 1), quantized.output
    candidate = json.loads((tmp_path / "run/compressed/int8/candidate.json").read_text())
    assert candidate["onnx_only"] and candidate["fidelity"]["agreement"] >= 0.9


def test_a_keras_file_is_fine_tuned_in_keras_when_train_epochs_is_set(
    keras_files: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    """``train.epochs: 2`` fine-tunes the saved model with Keras's fit (its softmax output
    trains with a probability loss); the run measures what the fine-tuned model predicts."""
    from sklearn.datasets import load_digits
    from tests.keras_models import keras_predict

    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data

    model, _, original = keras_files
    result = _run(f"keras:{model}", tmp_path / "run", "train.epochs=2", "train.lr=0.0005")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    training = manifest["training"]
    assert training["framework"] == "keras" and training["epochs_run"] == 2
    assert training["outputs"].startswith("probabilities")
    assert manifest["model"]["params"]["source"]["model"] == f"keras:{model}"
    prepared = prepare_data(RunConfig.model_validate(manifest["config"])).prepared
    X = prepared.model_input(prepared.splits.test.X).transpose(0, 2, 3, 1)
    tuned = Path(training["keras_model"])
    scores = keras_predict(tuned, np.ascontiguousarray(X), tmp_path)
    want = float(np.mean(scores.argmax(axis=1) == prepared.splits.test.y))
    assert manifest["quality"]["test"]["accuracy"] == pytest.approx(want, abs=1e-9)
    images = load_digits().images.astype(np.float32)
    before = {img.tobytes(): s for img, s in zip(images, original, strict=True)}
    was = np.array([before[row[0].astype(np.float32).tobytes()] for row in prepared.splits.test.X])
    assert np.abs(scores - was).max() > 1e-3  # the weights moved


def test_a_saved_model_folder_goes_through_tf2onnx(
    keras_files: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    _, folder, scores = keras_files
    result = _run(f"keras:{folder}", tmp_path / "run")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    want = _keras_accuracy(manifest, scores, "test")
    assert manifest["quality"]["test"]["accuracy"] == pytest.approx(want, abs=1e-9)


def test_what_cannot_be_done_is_one_line(
    keras_files: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    model, _, _ = keras_files
    (tmp_path / "notes.txt").write_text("not a model")
    for name, extra, phrase in (
        (f"keras:{model}", ["data.resize=16"], f"keras:{model}: the model takes rows"),
        (f"keras:{tmp_path / 'x.onnx'}", [], "an ONNX file; use model.name=onnx:"),
        (f"keras:{tmp_path / 'notes.txt'}", [], "neither a Keras 3 model file"),
        (f"keras:{tmp_path / 'nowhere.keras'}", [], "no such file or folder"),
    ):
        result = _run(name, tmp_path / "refused", *extra)
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.output.strip().splitlines() if line]
        assert len(lines) == 1 and phrase in lines[0], result.output


def test_a_normalization_layer_goes_through_a_saved_model(
    keras_files: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    """Keras's ONNX export makes an adapted Normalization's statistics graph inputs; zenopt
    exports such a model through a SavedModel instead, and measures what Keras predicts."""
    from sklearn.datasets import load_breast_cancer

    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data

    folder = keras_files[0].parent
    result = _run(f"keras:{folder / 'cancer.keras'}", tmp_path / "run", "data.source=breast_cancer")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    test = prepare_data(RunConfig.model_validate(manifest["config"])).prepared.splits.test
    scores = np.load(folder / "cancer_scores.npy")[:, 0]
    rows = load_breast_cancer().data.astype(np.float32)
    by_row = {row.tobytes(): s > 0.5 for row, s in zip(rows, scores, strict=True)}
    predicted = np.array([by_row[row.astype(np.float32).tobytes()] for row in test.X])
    want = float(np.mean(predicted.astype(int) == test.y))
    assert manifest["quality"]["test"]["accuracy"] == pytest.approx(want, abs=1e-9)
