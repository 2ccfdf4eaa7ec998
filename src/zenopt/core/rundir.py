"""The run directory: every artifact of one run, written atomically, indexed by manifest.json.

``manifest.json`` carries ``status``: ``running`` while the run works and ``complete`` (or
``failed``) at the end, so a half-written run is never mistaken for a finished one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from zenopt.core.errors import ConfigError

__all__ = [
    "MANIFEST_NAME",
    "RunDir",
    "atomic_write_bytes",
    "atomic_write_text",
    "plan_folder",
    "read_manifest",
    "safe_name",
]

MANAGED_FOLDERS = frozenset({"trials", "search", "compressed"})  # folders a run writes
MANIFEST_NAME = "manifest.json"
# Top-level keys a complete run's manifest always has; the report relies on them.
REQUIRED_KEYS = (
    "config",
    "environment",
    "data",
    "model",
    "training",
    "quality",
    "export",
    "profile",
    "cost",
    "requirements",
    "decisions",
    "verdict",
)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def safe_name(name: str) -> str:
    """A name (a study's, a user's ``--name``) as one harmless folder name: ``../x`` cannot
    leave the folder it is made in."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")
    return cleaned or "study"


def plan_folder(label: str) -> str:
    """A folder name for a plan: its label with everything but letters, digits and dots as -."""
    return re.sub(r"[^A-Za-z0-9.]+", "-", label).strip("-")[:96] or "plan"


def read_manifest(run_dir: Path, complete: bool = True) -> dict[str, Any]:
    """Load a complete run's manifest (with ``complete=False``, one being written: the run's
    own serve stage), with a one-line error when the folder holds none."""
    path = run_dir / MANIFEST_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {MANIFEST_NAME} here; pass the --out folder of a run")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}); check the file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a zenopt manifest (top level is not an object)")
    status = data.get("status")
    if not complete:
        return data
    if status != "complete":
        raise ConfigError(
            f"{path}: the run's status is {status!r}, not 'complete'; run it again to completion"
        )
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ConfigError(f"{path}: not a complete zenopt manifest; missing {', '.join(missing)}")
    result: dict[str, Any] = data
    return result


class RunDir:
    """A run's output folder. ``create`` refuses to mix two runs in one folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self, overwrite: bool = False) -> RunDir:
        try:
            return self._create(overwrite)
        except OSError as exc:
            raise ConfigError(
                f"--out {self.path}: cannot write there ({exc.strerror}); choose another folder"
            ) from None

    def _create(self, overwrite: bool) -> RunDir:
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"--out {self.path}: exists and is not a folder; choose another path")
        if self.path.is_dir() and any(self.path.iterdir()):
            if not overwrite:
                raise ConfigError(
                    f"--out {self.path}: folder is not empty; pass --overwrite or another --out"
                )
            for child in self.path.iterdir():
                if child.is_file() or child.is_symlink():
                    child.unlink()
                elif child.name in MANAGED_FOLDERS and child.is_dir():
                    shutil.rmtree(child)
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> Path:
        target = self.file(name)
        atomic_write_text(target, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        return target

    def write_text(self, name: str, text: str) -> Path:
        target = self.file(name)
        atomic_write_text(target, text)
        return target

    def write_manifest(self, manifest: dict[str, Any]) -> Path:
        return self.write_json(MANIFEST_NAME, manifest)
