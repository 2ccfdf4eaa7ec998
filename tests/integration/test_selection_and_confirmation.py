"""The test split never steers: the efficiency search selects on validation, the test split
confirms the chosen model once, and everything after the verdict uses the model it names.

- The search run twice, the second time with the test labels permuted, writes the same
  candidates (timings and test figures aside) and makes the same choice; the permuted run then
  misses min_accuracy on the test split and exits 1, with no other candidate tried.
- test_predictions.csv and ``zenopt predict`` (on the run and on a candidate folder) give the
  deployed candidate's predictions, for an image search and a table plan; ``--backend torch``
  on an INT8 model is a one-line error.
- On regression (diabetes) the quality drop is relative MSE under ``quality_drop_mode: auto``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from tests.conftest import FAST_BENCH
from tests.datafiles import digit_images, mixed_table, write_csv, write_idx
from tests.integration.test_efficiency_search import BASE
from typer.testing import CliRunner

import zenopt.flow.run as flow_run
from zenopt.cli.app import app
from zenopt.core.config import load_config
from zenopt.flow import run_pipeline
from zenopt.flow.data import DataStage, prepare_data
from zenopt.runtime.predictor import predict_with_backend

runner = CliRunner()
SEARCH = [
    *BASE,  # digits at 16×16, one epoch, a pruning-only search space
    "requirements.min_accuracy=0.5",
    "compress.search.rounds=8",  # one stalled round cannot blow the speed interval open
]
# Measured with noise, or on the test split: everything else in a candidate.json must match.
TIMED = {"profile", "speed_vs_baseline", "seconds", "vs_torch_fp32", "vs_onnxruntime_fp32"}
TIMED |= {"constraints", "acceptance", "requirements", "feasible", "missed", "test"}


def _run(out: Path, *extra: str) -> dict[str, Any]:
    config = load_config(None, [*SEARCH, *extra])
    outcome = run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    assert outcome.manifest["verdict"]["exit_code"] == outcome.exit_code
    return outcome.manifest


def _candidates(run: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((run / "search").glob("trial-*/candidate.json")):
        record = json.loads(path.read_text())
        kept = {k: v for k, v in record.items() if k not in TIMED}
        kept["drop"] = {k: v for k, v in record.get("drop", {}).items() if k != "test"}
        out[path.parent.name] = kept
    return out


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.slow
def test_permuted_test_labels_change_nothing_but_the_confirmation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = [
        "data.source=digits",
        "compress.search.objective=size",
        "compress.search.trials=2",
        "compress.search.space.prune_ratio=[0.5, 0.7]",
    ]
    honest = _run(tmp_path / "honest", *extra)

    def permuted(config: Any) -> DataStage:
        stage = prepare_data(config)
        splits = stage.prepared.splits
        shuffled = np.random.default_rng(1).permutation(splits.test.y)
        test = replace(splits.test, y=shuffled)
        prepared = replace(stage.prepared, splits=replace(splits, test=test))
        return replace(stage, prepared=prepared)

    monkeypatch.setattr(flow_run, "prepare_data", permuted)
    shuffled = _run(tmp_path / "shuffled", *extra)

    # Everything chosen before the confirmation is identical.
    assert _candidates(tmp_path / "honest") == _candidates(tmp_path / "shuffled")
    assert len(_candidates(tmp_path / "honest")) >= 2
    assert honest["search"]["chosen"]["trial"] == shuffled["search"]["chosen"]["trial"]
    assert honest["compress"]["plan"] == shuffled["compress"]["plan"]
    assert honest["quality"]["validation"] == shuffled["quality"]["validation"]
    assert honest["search"]["counts"] == shuffled["search"]["counts"]
    # The test split then confirms, once: the honest run passes, the permuted one misses
    # min_accuracy there and exits 1 without trying another candidate.
    assert honest["verdict"]["exit_code"] == 0 and honest["decisions"]["confirmation"]["met"]
    assert shuffled["quality"]["test"]["accuracy"] < 0.5
    assert shuffled["verdict"]["exit_code"] == 1
    assert "min_accuracy" in shuffled["verdict"]["missed"]
    confirmation = shuffled["decisions"]["confirmation"]
    assert not confirmation["met"] and "no other candidate is tried" in confirmation["action"]
    accuracy = next(r for r in shuffled["requirements"] if r["name"] == "min_accuracy")
    assert accuracy["detail"] == "test split" and not accuracy["met"]
    # The chosen candidate's validation drop is what the search accepted; its test drop is
    # the paired comparison with the trained model on the test rows.
    chosen = honest["compress"]["candidate"]
    assert chosen["quality_drop"] == chosen["drop"]["validation"]["drop"] <= 0.1
    assert chosen["drop"]["test"]["n"] == honest["data"]["splits"]["test"]
    assert honest["quality"]["test_drop"] == chosen["drop"]["test"]


@pytest.mark.slow
def test_predictions_are_the_deployed_candidate_s_on_an_image_search(tmp_path: Path) -> None:
    images, labels = digit_images(600)
    data = write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    run = tmp_path / "run"
    manifest = _run(
        run,
        f"data.source={data}",
        "train.epochs=4",
        "compress.search.trials=1",
        "compress.search.stop=first_feasible",
        "compress.search.space.prune_ratio=[0.5]",
    )
    deployed = manifest["verdict"]["deployed_model"]
    assert deployed.startswith("search/trial-") and manifest["quality"]["test_model"]["label"]
    # Every candidate says which machine measured it.
    from zenopt.profile.machine import machine_summary

    for path in (run / "search").glob("trial-*/candidate.json"):
        assert json.loads(path.read_text())["machine"] == machine_summary()
    test = prepare_data(load_config(run / "config.yaml")).prepared.splits.test
    threads = manifest["compress"]["candidate"]["threads"]
    outputs = predict_with_backend("onnxruntime", run / deployed / "model.onnx", test.X, threads)
    expected = [str(i) for i in outputs.argmax(1)]
    own = _rows((run / "test_predictions.csv").read_text())
    assert [r["prediction"] for r in own] == expected
    assert [int(r["row"]) for r in own] == list(test.indices)
    accuracy = float(np.mean(outputs.argmax(1) == test.y))
    assert manifest["quality"]["test"]["accuracy"] == pytest.approx(accuracy)
    result = runner.invoke(app, ["predict", str(run), str(data), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert f"by {deployed} in onnxruntime" in result.output
    predicted = _rows((tmp_path / "p.csv").read_text())
    assert [predicted[int(r["row"])]["prediction"] for r in own] == expected
    # A zenopt compress folder predicts with its own model; INT8 has no PyTorch form. (Static
    # INT8: dynamic INT8 scales activations per batch, so its outputs depend on the batch.)
    args = ["compress", str(run), "--plan", "quantize(mode=static)", "--name", "q8", "-q"]
    assert runner.invoke(app, args).exit_code in (0, 1)
    folder = run / "compressed" / "q8"
    result = runner.invoke(app, ["predict", str(folder), str(data), "-o", str(tmp_path / "q.csv")])
    assert result.exit_code == 0, result.output
    # The same computation as predict's: every row of the file in one batch, its threads.
    from zenopt.data.inference import read_for_prediction

    record = json.loads((folder / "candidate.json").read_text())
    config = load_config(run / "config.yaml")
    rows = read_for_prediction(data, config.data, manifest["model"]["inputs"], "multiclass").X
    again = predict_with_backend("onnxruntime", folder / "model.onnx", rows, record["threads"])
    mine = _rows((tmp_path / "q.csv").read_text())
    assert [r["prediction"] for r in mine] == [str(i) for i in again.argmax(1)]
    result = runner.invoke(app, ["predict", str(folder), str(data), "--backend", "torch"])
    assert result.exit_code == 2
    assert "exists only as ONNX" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_predictions_are_the_deployed_candidate_s_on_a_table_plan(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "t.csv", mixed_table(300))
    run = tmp_path / "run"
    config = load_config(
        None,
        [
            *FAST_BENCH,
            f"data.source={data}",
            "data.target=label",
            "data.impute=median",
            "model.name=mlp",
            "train.epochs=20",
            "compress.plan=[{method: quantize, mode: dynamic}]",
        ],
    )
    manifest = run_pipeline(config, run, console=Console(quiet=True), quiet=True).manifest
    folder = run / manifest["verdict"]["deployed_model"]
    assert manifest["verdict"]["deployed_model"].startswith("compressed/")
    test = prepare_data(config).prepared.splits.test
    names = manifest["model"]["class_names"]
    outputs = predict_with_backend("onnxruntime", folder / "model.onnx", test.X, 1)
    decoded = (outputs[:, 0] > 0).astype(int) if outputs.shape[1] == 1 else outputs.argmax(1)
    expected = [names[int(i)] for i in decoded]
    own = _rows((run / "test_predictions.csv").read_text())
    assert [r["prediction"] for r in own] == expected
    result = runner.invoke(app, ["predict", str(run), str(data), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    predicted = _rows((tmp_path / "p.csv").read_text())
    assert [predicted[int(r["row"])]["prediction"] for r in own] == expected
    result = runner.invoke(app, ["predict", str(run), str(data), "--backend", "torch"])
    assert result.exit_code == 2 and "exists only as ONNX" in result.output
    html = (run / "report.html").read_text()
    assert manifest["verdict"]["deployed_model"] in html and "McNemar" in html


@pytest.mark.slow
def test_regression_search_counts_the_drop_as_relative_mse(tmp_path: Path) -> None:
    manifest = _run(
        tmp_path / "run",
        "data.source=diabetes",
        "data.resize=null",
        "model.name=mlp",
        "train.epochs=30",
        "requirements.min_accuracy=null",
        "requirements.max_quality_drop=0.5",
        "compress.search.when=always",
        "compress.search.trials=1",
        "compress.search.space.prune_ratio=[0.5]",
    )
    search = manifest["search"]
    assert search["quality_drop_mode"] == "relative" and search["metric"] == "mse"
    baseline = json.loads((tmp_path / "run" / "search" / "baseline.json").read_text())
    base = baseline["torch"]["quality"]["mse"]  # the trained model, on validation
    measured = 0
    for path in (tmp_path / "run" / "search").glob("trial-*/candidate.json"):
        record = json.loads(path.read_text())
        if "validation" not in record:
            continue
        measured += 1
        drop = record["drop"]["validation"]
        assert drop["mode"] == "relative" and drop["baseline"] == pytest.approx(base)
        expected = (record["validation"]["mse"] - base) / base
        assert drop["signed_drop"] == pytest.approx(expected, rel=1e-6)
        assert record["quality_drop"] == pytest.approx(max(0.0, expected), rel=1e-6)
    assert measured >= 1
    check = next(r for r in manifest["requirements"] if r["name"] == "max_quality_drop")
    assert check["detail"].startswith("mse, relative, test split")
