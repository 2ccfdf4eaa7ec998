"""Log a finished run to MLflow: one MLflow run per zenopt run folder.

MLflow is optional and imported only here, only when ``--mlflow`` is given. ``connect_mlflow``
opens the store and the experiment before any training, so a wrong URI costs seconds, not a
run; ``log_run`` then writes the run's record (``record.tracking_record``) and its files.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from zenopt.core.errors import ConfigError
from zenopt.track.record import run_files, tracking_record

__all__ = ["MlflowTarget", "connect_mlflow", "log_run"]

INSTALL_HINT = "pip install 'zenopt[mlflow]'"
SQLITE_PREFIX = "sqlite:///"
_ARTIFACTS_FOLDER = "mlartifacts"  # beside the database, as `mlflow server` names it
_QUICK_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
# "[Errno 111] Connection refused", "Name or service not known", "Read timed out"
_NETWORK_CAUSE = re.compile(r"(\[Errno -?\d+\][^\"')]*|Name or service not known|timed out)")


@dataclass(frozen=True)
class MlflowTarget:
    """An open tracking store and the experiment that runs are logged into."""

    uri: str
    experiment: str
    experiment_id: str
    client: Any


def _shown(uri: str) -> str:
    from zenopt.tune.storage import redact

    return redact(uri)


def _tracking_errors() -> tuple[type[BaseException], ...]:
    """What the MLflow client raises for a store it cannot use (its own error, a database
    error from SQLAlchemy, a file or network error)."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    return (MlflowException, SQLAlchemyError, OSError)


def _reason(exc: BaseException) -> str:
    """MLflow's error as one short clause: its own messages run to several sentences."""
    text = str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__
    if "MLFLOW_ALLOW_FILE_STORE" in text or "filesystem tracking backend" in text:
        return (
            "this MLflow no longer writes to a plain folder store; use a database file "
            "such as sqlite:///mlruns/mlflow.db (or set MLFLOW_ALLOW_FILE_STORE=true)"
        )
    if "unsupported URI" in text or "registered tracking store" in text:
        return (
            "not a tracking URI MLflow knows; use sqlite:///PATH/mlflow.db, "
            "http(s)://HOST:PORT of an `mlflow server`, postgresql://… or databricks"
        )
    if "API request to" in text:
        cause = _NETWORK_CAUSE.search(text)
        found = cause.group(1).strip() if cause else text.splitlines()[0]
        return f"the tracking server does not answer ({_short(found, 120)}); check the address"
    return _short(text.splitlines()[0], 300)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """Open the store with one HTTP try and a short timeout: MLflow's defaults (7 retries,
    exponential backoff) keep a wrong server address silent for minutes. Settings the user
    made are kept; logging later uses whatever is set."""
    saved = {name: os.environ.get(name) for name in _QUICK_HTTP}
    for name, value in _QUICK_HTTP.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URI (relative to the working folder with
    three slashes, absolute with four), or None for any other store."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    path = uri[len(SQLITE_PREFIX) :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its files: beside a SQLite database, since MLflow's own
    default is ./mlruns in whatever folder the command ran from. Servers choose for
    themselves (None)."""
    database = _sqlite_file(uri)
    if database is None:
        return None
    return (database.resolve().parent / _ARTIFACTS_FOLDER).as_uri()


def connect_mlflow(uri: str, experiment: str = "zenopt") -> MlflowTarget:
    """Open the tracking store at ``uri`` and find or create ``experiment`` in it; every
    failure is one ConfigError line naming the URI and what to do."""
    if not uri.strip():
        raise ConfigError("--mlflow: the tracking URI is empty; pass e.g. sqlite:///mlflow.db")
    if not experiment.strip():
        raise ConfigError("--mlflow-experiment: the name is empty; pass e.g. zenopt")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(f"--mlflow: MLflow is not installed; {INSTALL_HINT}") from None
    errors = _tracking_errors()
    shown = _shown(uri)
    database = _sqlite_file(uri)
    try:
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        client = MlflowClient(tracking_uri=uri)
        with _fail_fast():
            found = client.get_experiment_by_name(experiment)
        if found is None:
            experiment_id = client.create_experiment(
                experiment, artifact_location=_artifact_location(uri)
            )
        elif found.lifecycle_stage == "deleted":
            raise ConfigError(
                f"--mlflow-experiment {experiment}: deleted in {shown}; restore it with "
                f"`mlflow experiments restore --experiment-id {found.experiment_id}` or pick "
                "another name"
            )
        else:
            experiment_id = found.experiment_id
    except errors as exc:
        raise ConfigError(f"--mlflow {shown}: {_reason(exc)}") from None
    return MlflowTarget(uri, experiment, str(experiment_id), client)


def _millis(stamp: Any, default: int) -> int:
    if not isinstance(stamp, str):
        return default
    try:
        return int(datetime.fromisoformat(stamp).timestamp() * 1000)
    except ValueError:
        return default


def log_run(target: MlflowTarget, manifest: dict[str, Any], run_dir: Path) -> str:
    """Log one run folder as one MLflow run and return the MLflow run id.

    Params: the flattened config. Metrics: the manifest's measurements, under their manifest
    paths; the training history as step metrics (step = epoch). Tags: version, status, verdict,
    backend, CPU, data, run folder. Artifacts: manifest, report, configs, model files and the
    deployed compressed model's folder, under the same relative paths as in the run folder.
    """
    from mlflow.entities import Metric, Param

    record = tracking_record(manifest, run_dir)
    files, deployed = run_files(manifest, run_dir)
    now = int(time.time() * 1000)
    started = _millis(manifest.get("started_at"), now)
    finished = _millis(manifest.get("finished_at"), now)
    tags = {**record.tags, "mlflow.source.name": "zenopt", "mlflow.source.type": "LOCAL"}
    user = _user()
    if user:
        tags["mlflow.user"] = user  # the UI's User column, as MLflow's own runs fill it
    metrics = [Metric(key, value, finished, 0) for key, value in record.metrics.items()]
    metrics += [
        Metric(key, value, finished, step)
        for key, points in record.steps.items()
        for step, value in points
    ]
    client, run_id = target.client, None
    try:
        run = client.create_run(
            target.experiment_id,
            start_time=started,
            tags=tags,
            run_name=run_dir.resolve().name,
        )
        run_id = run.info.run_id
        # log_batch splits into MLflow's per-request limits (100 params, 1000 metrics) itself
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(key, value) for key, value in record.params.items()],
        )
        for path in files:
            client.log_artifact(run_id, str(path))
        if deployed is not None:
            folder = deployed.relative_to(run_dir).as_posix()
            client.log_artifacts(run_id, str(deployed), artifact_path=folder)
        client.set_terminated(run_id, "FINISHED", end_time=finished)
    except _tracking_errors() as exc:
        if run_id is not None:
            _mark_failed(client, run_id)
        raise ConfigError(
            f"--mlflow {_shown(target.uri)}: logging {run_dir} failed ({_reason(exc)}); the "
            f"run folder is complete: log it again with zenopt report {run_dir} --mlflow URI"
        ) from None
    return str(run_id)


def _user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return None


def _mark_failed(client: Any, run_id: str) -> None:
    """Best effort: a half-logged run says FAILED rather than RUNNING forever."""
    # the store already failed once; the error being raised is the one to show
    with contextlib.suppress(Exception):
        client.set_terminated(run_id, "FAILED")
