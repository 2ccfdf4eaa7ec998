"""``model.name: keras:PATH``: a trained Keras 3 model (``.keras``) or a TensorFlow SavedModel
folder, as the run's starting point.

The file is turned into ONNX in a child process (Keras's ``model.export(format="onnx")``; a
SavedModel through tf2onnx), so TensorFlow never loads beside torch in zenopt's own process
and ``import zenopt`` stays free of it. The ONNX file is kept in zenopt's cache, named by the
source's digest, and the run then goes on as for ``onnx:PATH`` (``onnx_source``). Keras and
TensorFlow come with the optional extra: ``pip install 'zenopt[tensorflow]'``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from zenopt.core.errors import ModelError

__all__ = ["KERAS_PREFIX", "cache_folder", "is_keras", "keras_onnx", "named_errors"]

KERAS_PREFIX = "keras:"
EXPORT_TIMEOUT_S = 900


def is_keras(name: str) -> bool:
    return name.startswith(KERAS_PREFIX)


def cache_folder() -> Path:
    """``$ZENOPT_CACHE_DIR``, else ``$XDG_CACHE_HOME/zenopt``, else ``~/.cache/zenopt``."""
    if os.environ.get("ZENOPT_CACHE_DIR"):
        return Path(os.environ["ZENOPT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zenopt"


def _digest(path: Path) -> str:
    """The source's SHA-256: the file's bytes, or a SavedModel folder's files and names."""
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else "").encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _source(name: str) -> Path:
    path = Path(name[len(KERAS_PREFIX) :]).expanduser()
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return path
    if path.is_file() and path.suffix == ".keras":
        return path
    if path.suffix == ".onnx":
        raise ModelError(f"model.name={name}: an ONNX file; use model.name=onnx:{path}")
    if not path.exists():
        raise ModelError(f"model.name={name}: no such file or folder; give a .keras file or a "
                         "TensorFlow SavedModel folder")  # fmt: skip
    raise ModelError(
        f"model.name={name}: neither a Keras 3 model file (.keras) nor a TensorFlow SavedModel "
        "folder (one holding saved_model.pb); save it with model.save('m.keras') or "
        "model.export('folder')"
    )


def keras_onnx(name: str) -> Path:
    """The ONNX form of the ``keras:PATH`` model (exported once, then read from the cache)."""
    source = _source(name)
    target = cache_folder() / "keras" / f"{_digest(source)}.onnx"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "zenopt.keras_child.export", str(source), str(partial)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=EXPORT_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise ModelError(f"{source}: the ONNX export took over {EXPORT_TIMEOUT_S} s") from None
    if done.returncode != 0 or not partial.is_file():
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit code {done.returncode}"
        partial.unlink(missing_ok=True)
        raise ModelError(f"{source}: cannot export it to ONNX ({why})")
    partial.replace(target)
    return target


@contextlib.contextmanager
def named_errors(name: str) -> Iterator[None]:
    """Errors about a ``keras:PATH`` model's cached ONNX export name the model the user gave
    instead of the cache file."""
    try:
        yield
    except ModelError as exc:
        if not is_keras(name):
            raise
        try:
            cached = keras_onnx(name)
        except ModelError:  # the error is about the source itself
            raise exc from None
        text = str(exc)
        for shown in {str(cached), str(cached.resolve())}:
            text = text.replace(shown, name)
        raise ModelError(text) from None
