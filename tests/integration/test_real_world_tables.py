"""A clinical-style table end to end: an identifier dropped, grouped splits, a given test
file, and per-class targets met (exit 0) and missed (exit 1), judged on the given test rows
as scikit-learn scores the run's own test predictions; shown by run, report and compare."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score
from tests.conftest import fast_overrides
from typer.testing import CliRunner

from zenopt.cli.app import app

runner = CliRunner()


def _clinic(path: Path, patients: int, seed: int, prefix: str) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["visit,patient,clinic,a,b,outcome"]
    for p in range(patients):
        risk, clinic = rng.normal(), ["north", "south"][p % 2]
        for _ in range(int(rng.integers(2, 5))):
            outcome = "relapse" if risk + rng.normal(0, 0.3) > 0.9 else "stable"
            a, b = risk + rng.normal(0, 0.5), rng.normal()
            lines.append(f"{len(lines)},{prefix}{p},{clinic},{a:.4f},{b:.4f},{outcome}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(tmp: Path, name: str, *sets: str) -> tuple[int, str, dict]:  # type: ignore[type-arg]
    out = tmp / name
    args = ["run", "--out", str(out)]
    for item in fast_overrides(*sets, epochs=15):
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, result.output, json.loads((out / "manifest.json").read_text())


@pytest.mark.slow
def test_grouped_given_test_file_and_per_class_targets(tmp_path: Path) -> None:
    train = _clinic(tmp_path / "visits.csv", 120, 0, "P")
    test = _clinic(tmp_path / "visits_test.csv", 40, 1, "Q")
    base = [
        f"data.source={train}",
        f"data.test_source={test}",
        "data.target=outcome",
        "data.drop=[visit]",
        "data.group=patient",
        "data.balance=class_weight",
    ]
    code, output, manifest = _run(
        tmp_path, "met", *base, "requirements.min_class_recall={relapse: 0.3}"
    )
    # the given file is the test split, whole; no patient on two sides
    rows = list(csv.DictReader(io.StringIO(test.read_text())))
    assert manifest["data"]["splits"]["test"] == len(rows)
    assert manifest["data"]["split_sources"]["test"] == str(test)
    # the verdict's per-class recall is scikit-learn's on the run's own test predictions
    predicted = list(
        csv.DictReader(io.StringIO((tmp_path / "met" / "test_predictions.csv").read_text()))
    )
    truth = [r["outcome"] for r in rows]
    guess = [r["prediction"] for r in predicted]
    recall = recall_score(truth, guess, pos_label="relapse", average="binary")
    check = next(r for r in manifest["requirements"] if r["name"] == "min_class_recall[relapse]")
    assert check["measured"] == pytest.approx(recall) and check["detail"] == "test split"
    assert check["met"] is (recall >= 0.3) and code == (0 if check["met"] else 1)
    assert "test recall by class" in output and f"relapse {recall:.4g}"[:12] in output
    # a target the model cannot meet: exit 1, the class named as missed
    strict = "requirements.min_class_precision={relapse: 1.0, stable: 1.0}"
    code, output, missed = _run(tmp_path, "missed", *base, strict)
    again = (tmp_path / "missed" / "test_predictions.csv").read_text()
    guess = [r["prediction"] for r in csv.DictReader(io.StringIO(again))]
    precision = precision_score(truth, guess, pos_label="stable", average="binary")
    checks = {r["name"]: r for r in missed["requirements"]}
    assert checks["min_class_precision[stable]"]["measured"] == pytest.approx(precision)
    assert code == 1 and "min_class_precision[stable]" in missed["verdict"]["missed"]
    assert "min_class_precision[stable]" in output and "missed" in output
    # zenopt report's summary and zenopt compare show each class's recall
    report = runner.invoke(app, ["report", str(tmp_path / "met")])
    assert report.exit_code == 0 and "test recall by class" in report.output
    compared = runner.invoke(
        app,
        [
            "compare",
            str(tmp_path / "met"),
            str(tmp_path / "missed"),
            "--html",
            str(tmp_path / "c.html"),
        ],
    )
    assert compared.exit_code == 0, compared.output
    assert (
        "test recall of relapse" in compared.output and "test recall of stable" in compared.output
    )
