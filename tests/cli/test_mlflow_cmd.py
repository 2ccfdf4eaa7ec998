"""``--mlflow`` on zenopt run and zenopt report: a real run, logged to a local SQLite store
and read back with MLflow's own client, against the run's manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from tests.conftest import FAST_BENCH
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.track.record import config_params, tracking_record

runner = CliRunner()


def _only_run(uri: str, experiment: str) -> Any:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = client.search_runs([found.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def _assert_logged_as(client: MlflowClient, run: Any, run_dir: Path) -> dict[str, Any]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    record = tracking_record(manifest, run_dir)
    assert run.data.params == config_params(manifest["config"])
    assert run.data.params["model.name"] == manifest["config"]["model"]["name"]
    for name, value in record.metrics.items():
        assert run.data.metrics[name] == pytest.approx(value), name
    metric = manifest["quality"]["primary_metric"]
    assert run.data.metrics[f"quality.test.{metric}"] == manifest["quality"]["test"][metric]
    for backend, profile in manifest["profile"].items():
        for batch, latency in profile["latency_ms"].items():
            name = f"profile.{backend}.latency_ms.{batch}.p95"
            assert run.data.metrics[name] == pytest.approx(latency["p95"])
    history = manifest["training"]["history"]
    losses = client.get_metric_history(run.info.run_id, "training.history.train_loss")
    assert [(m.step, m.value) for m in losses] == [(e["epoch"], e["train_loss"]) for e in history]
    assert len(history) == manifest["training"]["epochs_run"]
    assert run.data.tags["zenopt.run_dir"] == str(run_dir.resolve())
    assert run.data.tags["zenopt.deploy_backend"] == manifest["verdict"]["deploy_backend"]
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"manifest.json", "report.html", "config.yaml"} <= names
    assert set(manifest["artifacts"].values()) <= names
    return manifest


@pytest.mark.slow
def test_run_logs_to_mlflow_also_when_a_requirement_is_missed(store: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sets = [*FAST_BENCH, "train.epochs=4", "requirements.max_latency_ms=0.000001"]
    result = runner.invoke(
        app,
        [
            "run",
            "--dataset",
            "iris",
            "--model",
            "mlp",
            "--out",
            str(out),
            *[arg for item in sets for arg in ("--set", item)],
            "--mlflow",
            store,
            "--mlflow-experiment",
            "iris-trials",
            "-q",
        ],
    )
    assert result.exit_code == 1, result.output  # the verdict's code, not the logger's
    client, run = _only_run(store, "iris-trials")
    manifest = _assert_logged_as(client, run, out)
    assert run.data.tags["zenopt.verdict"] == "missed"
    assert run.data.tags["zenopt.missed"] == "max_latency_ms"
    assert run.data.metrics["verdict.exit_code"] == 1
    assert len(manifest["training"]["history"]) == 4
    assert f"mlflow: run {run.info.run_id} in experiment 'iris-trials'" in result.output
    assert not any(Path.cwd().iterdir())


def test_report_logs_a_finished_run_after_the_fact(
    store: str, iris_run: tuple[Path, dict[str, Any]]
) -> None:
    run_dir, _ = iris_run
    result = runner.invoke(app, ["report", str(run_dir), "--mlflow", store])
    assert result.exit_code == 0, result.output
    client, run = _only_run(store, "zenopt")
    _assert_logged_as(client, run, run_dir)
    assert run.data.tags["zenopt.verdict"] == "met"


def test_a_bad_uri_fails_in_one_line_before_training(store: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["run", "--dataset", "iris", "--out", str(out), "--mlflow", "bogus://x", "-q"]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --mlflow bogus://x: "), lines
    assert not out.exists()  # nothing trained, nothing written


def test_missing_mlflow_is_one_line_with_the_install_command(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded = [m for m in sys.modules if m.startswith("mlflow.")]
    for name in {"mlflow", "mlflow.tracking", *loaded}:
        monkeypatch.setitem(sys.modules, name, None)
    out = tmp_path / "run"
    result = runner.invoke(app, ["tune", "--dataset", "iris", "--out", str(out), "--mlflow", store])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        "error: --mlflow: MLflow is not installed; pip install 'zenopt[mlflow]'"
    )
    assert not out.exists()
