"""``keras:PATH`` without TensorFlow in zenopt's process: the CLI imports none of it, the
source is checked (a .keras file or a SavedModel folder) in one line before any child process
starts, and the ONNX export lands in zenopt's cache folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from zenopt.core.errors import ModelError
from zenopt.models.keras_source import cache_folder, keras_onnx


def test_the_cli_imports_no_tensorflow() -> None:
    code = (
        "import sys, zenopt.cli.app, zenopt.models, zenopt.flow\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'tf2onnx')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_sources_are_checked_before_any_export(tmp_path: Path) -> None:
    (tmp_path / "model.h5").write_bytes(b"legacy")
    (tmp_path / "folder").mkdir()
    cases = {
        f"keras:{tmp_path / 'model.h5'}": "neither a Keras 3 model file (.keras)",
        f"keras:{tmp_path / 'folder'}": "neither a Keras 3 model file (.keras)",
        f"keras:{tmp_path / 'gone.keras'}": "no such file or folder",
    }
    for name, phrase in cases.items():
        with pytest.raises(ModelError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
            keras_onnx(name)


def test_the_cache_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENOPT_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_folder() == tmp_path / "mine"
    monkeypatch.delenv("ZENOPT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "zenopt"
