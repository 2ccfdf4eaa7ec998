"""The run directory: every artifact of one run, written atomically, indexed by manifest.json.

``manifest.json`` carries ``status``: ``running`` while the run works and ``complete`` (or
``failed``) at the end, so a half-written run is never mistaken for a finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from zenopt.core.errors import ConfigError

__all__ = ["MANIFEST_NAME", "RunDir", "atomic_write_bytes", "atomic_write_text", "read_manifest"]

MANIFEST_NAME = "manifest.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """Load a run's manifest, with a one-line error when the directory holds no run."""
    path = run_dir / MANIFEST_NAME
    if not path.is_file():
        raise ConfigError(f"{run_dir}: no {MANIFEST_NAME} here; pass the --out folder of a run")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return data


class RunDir:
    """A run's output folder. ``create`` refuses to mix two runs in one folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self, overwrite: bool = False) -> RunDir:
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
