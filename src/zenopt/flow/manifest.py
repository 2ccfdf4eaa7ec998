"""The run's manifest as the flow starts it, and the config as a run folder shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import zenopt
from zenopt.core.config import RunConfig
from zenopt.data.given import resolve_given
from zenopt.flow.context import RunContext
from zenopt.profile import fingerprint
from zenopt.tune.storage import redact

__all__ = ["now", "public_config", "start_manifest", "to_yaml"]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def public_config(config: RunConfig) -> dict[str, Any]:
    """The config as written to the manifest and best_config.yaml: no database password
    (config.yaml keeps the URL as given, since --resume needs it; use ${VARIABLE} for it)."""
    data = config.to_dict()
    if data["tune"]["storage"]:
        data["tune"]["storage"] = redact(data["tune"]["storage"])
    return data


def to_yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def split_sources(config: RunConfig) -> dict[str, str]:
    """Where each split came from: a given file, or carved from data.source (grouped by
    data.group when set)."""
    carved = "data.source" + (f", grouped by {config.data.group!r}" if config.data.group else "")
    data = config.data
    test = (
        str(resolve_given("data.test_source", data.test_source, data)) if data.test_source else None
    )
    return {
        "train": carved,
        "val": data.val_source or carved,
        "test": test or carved,
    }


def start_manifest(ctx: RunContext, command: list[str]) -> dict[str, Any]:
    """What is known before training: the config, the machine and the data."""
    stage, config = ctx.data, ctx.config
    return {
        "zenopt_version": zenopt.__version__,
        "status": "running",
        "started_at": now(),
        "resumed": ctx.resumed,
        "command": [redact(item) for item in command],
        "config": public_config(config),
        "environment": fingerprint(),
        "data": {
            **stage.dataset.summary(),
            "duplicate_rows": stage.duplicates,
            "duplicates_dropped": stage.duplicates if config.data.drop_duplicates else 0,
            "duplicates_across_splits": stage.straddling,
            "splits": stage.prepared.splits.sizes(),
            "split_sources": split_sources(config),
            "warnings": list(stage.warnings),
        },
    }
