"""Study storage: the run folder's SQLite file by default, or a shared database for workers.

Every failure a user can cause (a malformed URL, an unknown database kind, a server that does
not answer, a file that is not a study database) becomes one ConfigError line that names the
URL with its password hidden.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

from zenopt.core.config import TuneConfig
from zenopt.core.errors import ConfigError

__all__ = [
    "STUDY_FILE",
    "default_study_name",
    "normalise_url",
    "open_storage",
    "redact",
    "storage_url",
]

STUDY_FILE = "study.db"
SUPPORTED = ("sqlite", "postgresql")
# The driver each database kind is reached with, as pinned in pyproject.toml.
DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def storage_url(tune: TuneConfig, run_dir: Path) -> str:
    """The storage the study lives in: ``tune.storage`` or ``sqlite:///<run>/study.db``."""
    if tune.storage:
        return tune.storage
    return f"sqlite:///{(run_dir / STUDY_FILE).resolve()}"


def default_study_name(tune: TuneConfig, run_dir: Path) -> str:
    return tune.study or f"zenopt-{run_dir.resolve().name}"


_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def redact(text: str) -> str:
    """``text`` as it may be printed and stored: the password of every URL in it (``$VAR``s
    expanded first) replaced by ``***``. Works on a URL, an argv item or a sentence."""
    return _PASSWORD.sub(r"\1***@", os.path.expandvars(text))


def normalise_url(url: str, where: str = "tune.storage") -> str:
    """The URL checked and with its driver set (psycopg 3 for PostgreSQL); no connection."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = os.path.expandvars(url)  # a password may come from $VARIABLE, not the config file
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{where}: {redact(url)!r} is not a database URL; use sqlite:///path/study.db or "
            "postgresql://user:password@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED and backend != "postgres":
        raise ConfigError(
            f"{where}: unsupported database {backend!r} in {redact(url)}; use sqlite or postgresql"
        )
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ConfigError(
                f"{where}: {redact(url)!r} keeps the study in memory, where it cannot be "
                "resumed or shared; give a file: sqlite:///path/study.db"
            )
        folder = Path(database).parent
        if not folder.is_dir():
            raise ConfigError(
                f"{where}: folder {folder} of the SQLite file does not exist; create it first"
            )
    if parsed.drivername in DRIVERS:
        parsed = parsed.set(drivername=DRIVERS[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def open_storage(url: str, tune: TuneConfig, where: str = "tune.storage") -> Any:
    """An Optuna RDBStorage; shared (non-SQLite) storages get heartbeats and the retry rule."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # zenopt reports progress itself
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    normalised = normalise_url(url, where)
    shared = not normalised.startswith("sqlite")
    kwargs: dict[str, Any] = {}
    engine: dict[str, Any] = {}
    if shared:
        kwargs = {
            "heartbeat_interval": tune.heartbeat_s,
            "grace_period": tune.grace_s,
            "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(
                max_retry=tune.retries
            ),
        }
        engine = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    else:
        engine = {"connect_args": {"timeout": 60}}
    for attempt in range(5):
        try:
            return RDBStorage(normalised, engine_kwargs=engine, **kwargs)
        except (IntegrityError, ProgrammingError) as exc:
            # Workers started together on a fresh database race to create Optuna's tables;
            # the losers find them created on the next attempt.
            failure: Exception = exc
            time.sleep(0.5 * (attempt + 1))
        except (SQLAlchemyError, optuna.exceptions.StorageInternalError, RuntimeError) as exc:
            failure = exc
            break
    reason = str(getattr(failure, "orig", None) or failure).strip().splitlines()
    first = reason[0] if reason else type(failure).__name__
    raise ConfigError(
        f"{where}: cannot open {redact(url)}: {first}; check that the database is running, "
        "reachable and that the URL's user, password and database name are right"
    )
