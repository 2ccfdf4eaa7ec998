"""``model.name: onnx:PATH``: a model trained elsewhere, only an ONNX file, through the whole
flow. The reference is ONNX Runtime on the user's own file: the run's accuracy, and the
predictions of ``zenopt predict`` on the run, must be what that file gives on the same rows;
the run is not trained; it compresses (pruning and distillation on its PyTorch form, static
INT8); a channels-last graph is fed transposed images; and every file zenopt cannot take is
one line and exit 2."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from tests.conftest import fast_overrides
from tests.datafiles import write_idx
from tests.onnx_models import digits_cnn, refused_models
from typer.testing import CliRunner

from zenopt.cli.app import app

pytestmark = pytest.mark.slow


def _run(model: Path, out: Path, *extra: str) -> dict[str, Any]:
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    overrides = [f"model.name=onnx:{model}", "data.source=digits", *extra]
    config = load_config(None, fast_overrides(*overrides))
    outcome = run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    return outcome.manifest


def _reference_accuracy(model: Path, out: Path, split: str, channels_last: bool) -> float:
    """ONNX Runtime on the user's file, on the rows the run held as ``split``."""
    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data

    config = RunConfig.model_validate(json.loads((out / "manifest.json").read_text())["config"])
    part = getattr(prepare_data(config).prepared.splits, split)
    X = part.X.astype(np.float32)
    if channels_last:
        X = np.ascontiguousarray(X.transpose(0, 2, 3, 1))
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    scores = session.run(None, {session.get_inputs()[0].name: X})[0]
    return float(np.mean(scores.argmax(axis=1) == part.y))


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("onnx-in")
    model = digits_cnn(folder / "cnn.onnx")
    manifest = _run(model, folder / "run")
    return model, folder / "run", manifest


def test_the_file_is_measured_as_it_is_not_trained(cnn_run) -> None:  # type: ignore[no-untyped-def]
    model, run, manifest = cnn_run
    assert manifest["status"] == "complete"
    assert (
        manifest["training"]["epochs_run"] == 0
        and "trained elsewhere" in (manifest["training"]["pretrained"])
    )
    source = manifest["model"]["params"]["source"]
    assert source["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert source["converted_max_rel_diff"] <= 1e-4 and source["layout"] == "as the data"
    config = manifest["config"]
    assert config["data"]["scale"] == "none" and config["data"]["resize"] == 8  # the graph's
    assert config["train"]["loss"] == "cross_entropy" and config["tune"]["when"] == "never"
    for split, key in (("val", "validation"), ("test", "test")):
        reference = _reference_accuracy(model, run, split, channels_last=False)
        assert manifest["quality"][key]["accuracy"] == pytest.approx(reference, abs=1e-9)
    assert "Not trained" in (run / "report.html").read_text()


def test_predict_on_the_run_gives_what_the_file_gives(cnn_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_digits

    model, run, _ = cnn_run
    images = load_digits().images[:40]
    path = write_idx(tmp_path / "new-images-idx3-ubyte", images.astype(np.uint8))
    result = CliRunner().invoke(app, ["predict", str(run), str(path)])
    assert result.exit_code == 0, result.output
    predicted = [row["prediction"] for row in csv.DictReader(io.StringIO(result.stdout))]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    X = images.astype(np.uint8).astype(np.float32)[:, None]
    expected = session.run(None, {"image": X})[0].argmax(axis=1)
    assert predicted == [str(c) for c in expected]


def test_it_compresses_like_any_run(cnn_run) -> None:  # type: ignore[no-untyped-def]
    _, run, _ = cnn_run
    plan = "prune(ratio=0.5, epochs=1) -> distill(epochs=1) -> quantize(mode=static)"
    result = CliRunner().invoke(app, ["compress", str(run), "--plan", plan, "--name", "small"])
    assert result.exit_code in (0, 1), result.output
    candidate = json.loads((run / "compressed" / "small" / "candidate.json").read_text())
    pruned = next(n for n in candidate["notes"] if n["step"].startswith("prune"))
    assert pruned["params_after"] < pruned["params_before"]  # narrowed in its PyTorch form
    assert (run / "compressed" / "small" / "model.onnx").is_file()


def test_a_channels_last_graph_gets_transposed_images(tmp_path: Path) -> None:
    model = digits_cnn(tmp_path / "nhwc.onnx", channels_last=True, epochs=3)
    manifest = _run(model, tmp_path / "run")
    assert manifest["model"]["params"]["permute"] == [0, 2, 3, 1]
    reference = _reference_accuracy(model, tmp_path / "run", "val", channels_last=True)
    assert manifest["quality"]["validation"]["accuracy"] == pytest.approx(reference, abs=1e-9)


def test_files_zenopt_cannot_take_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for name, (path, phrase) in refused_models(tmp_path).items():
        extra = ["--set", "data.resize=8"] if name == "wrong_size" else []
        args = ["run", "--out", str(tmp_path / name), "--set", f"model.name=onnx:{path}",
                "--set", "data.source=digits", *extra]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.output.strip().splitlines() if line]
        assert len(lines) == 1 and phrase in lines[0], (name, result.output)
        assert "Traceback" not in result.output
    tuned = CliRunner().invoke(app, ["run", "--set", "model.name=onnx:x.onnx",
                                     "--set", "tune.when=always"])  # fmt: skip
    assert tuned.exit_code == 2 and "arrives trained" in tuned.output


def test_report_and_compare_read_the_run(cnn_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    _, run, _ = cnn_run
    (run / "report.html").unlink()
    report = CliRunner().invoke(app, ["report", str(run)])
    assert report.exit_code == 0, report.output
    assert "Not trained" in (run / "report.html").read_text()
    copy = shutil.copytree(run, tmp_path / "again")  # the same run, in another folder
    html = tmp_path / "compare.html"
    compared = CliRunner().invoke(app, ["compare", str(run), str(copy), "--html", str(html)])
    assert compared.exit_code == 0, compared.output
    assert "epochs run" in compared.output and html.is_file()
