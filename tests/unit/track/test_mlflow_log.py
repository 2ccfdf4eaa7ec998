"""Logging a run folder to a local MLflow store and reading it back with MLflow's client."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from zenopt.core.errors import ConfigError
from zenopt.track.mlflow_log import connect_mlflow, log_run
from zenopt.track.record import tracking_record


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def test_logged_run_reads_back_as_the_manifest(
    store: str, manifest: dict[str, Any], run_folder: Path, tmp_path: Path
) -> None:
    target = connect_mlflow(store, "digits")
    run_id = log_run(target, manifest, run_folder)
    client = MlflowClient(tracking_uri=store)
    run = client.get_run(run_id)
    record = tracking_record(manifest, run_folder)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == run_folder.name
    assert client.get_experiment(run.info.experiment_id).name == "digits"
    assert run.data.params == record.params
    for name, value in record.metrics.items():
        assert run.data.metrics[name] == pytest.approx(value), name
    assert record.tags.items() <= run.data.tags.items()
    epochs = [e["epoch"] for e in manifest["training"]["history"]]
    for name, points in record.steps.items():
        history = client.get_metric_history(run_id, name)
        assert sorted((m.step, m.value) for m in history) == points
        assert [m.step for m in history] == epochs  # one step per epoch
    deployed = manifest["verdict"]["deployed_model"]
    assert _artifacts(client, run_id) == {
        "manifest.json",
        "report.html",
        "config.yaml",
        "model.json",
        "model.safetensors",
        "model.onnx",
        f"{deployed}/model.onnx",
    }
    copy = Path(client.download_artifacts(run_id, "manifest.json", str(tmp_path)))
    assert copy.read_bytes() == (run_folder / "manifest.json").read_bytes()
    assert not any(Path.cwd().iterdir())  # nothing written where the command ran
    assert (tmp_path / "tracking" / "mlartifacts").is_dir()  # files beside the database


def test_runs_of_one_experiment_share_it(
    store: str, manifest: dict[str, Any], run_folder: Path
) -> None:
    first = log_run(connect_mlflow(store), manifest, run_folder)
    second = log_run(connect_mlflow(store), manifest, run_folder)
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("zenopt")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in runs} == {first, second}


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bogus://nowhere", "--mlflow bogus://nowhere: "),
        ("", "--mlflow: the tracking URI is empty"),
        ("mlruns", "--mlflow mlruns: this MLflow no longer writes to a plain folder store"),
        ("file:///tmp/nowhere", "--mlflow file:///tmp/nowhere: this MLflow no longer writes"),
    ],
)
def test_a_bad_uri_is_one_line(store: str, uri: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        connect_mlflow(uri)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert not any(Path.cwd().iterdir())


@pytest.mark.timeout(60)  # MLflow's own retries would wait minutes on a dead server
def test_a_server_that_does_not_answer_fails_at_once(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    with pytest.raises(ConfigError) as caught:
        connect_mlflow("http://127.0.0.1:9")  # the discard port: nothing listens
    assert str(caught.value).startswith(
        "--mlflow http://127.0.0.1:9: the tracking server does not answer ("
    )
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # only for the first try


def test_a_failure_while_logging_keeps_the_folder_and_marks_the_run_failed(
    store: str, manifest: dict[str, Any], run_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = connect_mlflow(store)

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise MlflowException("No space left on device")

    monkeypatch.setattr(target.client, "log_artifact", disk_full)
    with pytest.raises(ConfigError) as caught:
        log_run(target, manifest, run_folder)
    assert str(caught.value) == (
        f"--mlflow {store}: logging {run_folder} failed (No space left on device); the run "
        f"folder is complete: log it again with zenopt report {run_folder} --mlflow URI"
    )
    (run,) = MlflowClient(tracking_uri=store).search_runs([target.experiment_id])
    assert run.info.status == "FAILED"


def test_an_empty_experiment_name_is_refused(store: str) -> None:
    with pytest.raises(ConfigError, match="--mlflow-experiment: the name is empty"):
        connect_mlflow(store, " ")


def test_missing_mlflow_says_how_to_install_it(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = [m for m in sys.modules if m.startswith("mlflow.")]
    for name in {"mlflow", "mlflow.tracking", *loaded}:
        monkeypatch.setitem(sys.modules, name, None)  # import mlflow now fails
    with pytest.raises(ConfigError) as caught:
        connect_mlflow(store)
    assert str(caught.value) == ("--mlflow: MLflow is not installed; pip install 'zenopt[mlflow]'")


def test_a_deleted_experiment_is_not_logged_into_silently(store: str) -> None:
    target = connect_mlflow(store, "old")
    target.client.delete_experiment(target.experiment_id)
    with pytest.raises(ConfigError, match=r"--mlflow-experiment old: deleted in .*restore it"):
        connect_mlflow(store, "old")
