"""The last heartbeat of each trial, read from Optuna's RDB storage.

Optuna keeps one row per trial in its ``trial_heartbeats`` table, rewritten every
``tune.heartbeat_s`` while the trial runs and kept after it finishes. The row is written with
the database server's clock in the database session's time zone (``now()``; SQLite's is UTC),
while a trial's start and completion times are the workers' clocks. A heartbeat is therefore
moved onto this machine's clock, in UTC, by the offset between the server's ``now()`` and this
machine's clock, measured when the heartbeats are read: that takes out the time zone and the
skew between this machine and the server (not a skew between the server and a worker).

This reads Optuna's private storage layer (``optuna.storages._rdb``), pinned with Optuna in
``pyproject.toml``: a version that moves it needs this module checked.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

__all__ = ["last_heartbeats"]


def _rdb(storage: Any) -> Any:
    """The RDBStorage under ``storage`` (Optuna wraps it in a cache), or None."""
    from optuna.storages import RDBStorage

    backend = getattr(storage, "_backend", storage)
    return backend if isinstance(backend, RDBStorage) else None


def last_heartbeats(storage: Any, trial_ids: Collection[int]) -> dict[int, datetime]:
    """The last heartbeat of each of ``trial_ids`` that sent one, as an aware UTC datetime on
    this machine's clock. Trials without heartbeats (storages other than Optuna's RDB storage,
    and SQLite run folders, which zenopt opens without heartbeats) are left out."""
    import sqlalchemy
    from optuna.storages._rdb.models import TrialHeartbeatModel
    from optuna.storages._rdb.storage import _create_scoped_session

    rdb = _rdb(storage)
    if rdb is None or not trial_ids:
        return {}
    table = TrialHeartbeatModel
    with _create_scoped_session(rdb.scoped_session) as session:
        before = datetime.now(UTC)
        server_now = session.execute(sqlalchemy.func.now()).scalar()
        after = datetime.now(UTC)
        rows = (
            session.query(table.trial_id, table.heartbeat)
            .filter(table.trial_id.in_(list(trial_ids)))
            .all()
        )
    if server_now is None:
        return {}
    # As Optuna compares them: the server's now() as the naive wall time the column holds.
    here = (before + (after - before) / 2).replace(tzinfo=None)
    offset = server_now.replace(tzinfo=None) - here
    return {
        trial_id: (beat - offset).replace(tzinfo=UTC) for trial_id, beat in rows if beat is not None
    }
