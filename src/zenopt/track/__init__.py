"""Experiment tracking: a finished run's manifest, logged to a tracker (MLflow, optional).

``record`` turns a manifest into params, metrics, step metrics and tags and lists the files
worth keeping, with no tracker imported; ``mlflow_log`` writes them with the MLflow client.
"""

from zenopt.track.mlflow_log import MlflowTarget, connect_mlflow, log_run
from zenopt.track.record import TrackingRecord, config_params, run_files, tracking_record

__all__ = [
    "MlflowTarget",
    "TrackingRecord",
    "config_params",
    "connect_mlflow",
    "log_run",
    "run_files",
    "tracking_record",
]
