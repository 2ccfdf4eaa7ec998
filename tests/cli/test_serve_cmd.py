"""``zenopt serve``'s own mistakes: one line naming the option or folder, exit 2, no
traceback, before anything listens."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zenopt.cli.app import app

runner = CliRunner()


def _serve(*args: str) -> Any:
    return runner.invoke(app, ["serve", *args])


def _one_line_error(result: Any, fragment: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert fragment in " ".join(result.output.split())


def test_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    _one_line_error(_serve(str(tmp_path)), "manifest.json")
    _one_line_error(_serve(str(tmp_path / "missing")), "not a folder; pass the --out folder")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--workers", "0"], "--workers 0: must be at least 1"),
        (["--max-batch", "0"], "--max-batch 0: must be at least 1"),
        (["--queue", "0"], "--queue 0: must be at least 1"),
        (["--threads", "0"], "--threads 0: must be at least 1"),
        (["--max-delay-us", "-1"], "--max-delay-us -1: must be 0 or more"),
        (["--port", "70000"], "--port 70000: must be 0–65535"),
        (["--max-body-mb", "0"], "--max-body-mb 0.0: must be a size in MiB above 0"),
        (["--max-body-mb", "nan"], "--max-body-mb nan: must be a size in MiB above 0"),
        (["--name", "my model"], "--name 'my model': use letters, digits"),
    ],
)
def test_bad_options(
    iris_run: tuple[Path, dict[str, Any]], options: list[str], fragment: str
) -> None:
    _one_line_error(_serve(str(iris_run[0]), *options), fragment)


def test_a_port_in_use(iris_run: tuple[Path, dict[str, Any]]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve(str(iris_run[0]), "--port", str(port))
    _one_line_error(result, f"--host 127.0.0.1 --port {port}: cannot listen there")
    assert "pass another --port (0: any free one)" in " ".join(result.output.split())


def test_export_to_a_file(iris_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    target = tmp_path / "deploy.txt"
    target.write_text("x")
    _one_line_error(_serve(str(iris_run[0]), "--export", str(target)), "a file; give a new")


def test_a_damaged_or_missing_model_file(
    iris_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(iris_run[0], run)
    (run / "model.onnx").write_bytes(b"not a protobuf at all")
    _one_line_error(_serve(str(run)), "model.onnx: not a readable ONNX model")
    (run / "model.onnx").unlink()
    _one_line_error(_serve(str(run)), "model.onnx is missing: the folder of the FP32 export is")
