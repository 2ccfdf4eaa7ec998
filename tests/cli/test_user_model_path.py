"""A run of a user's ``package.module:factory`` records the folder it imported the package
from; later commands import it from there, whatever their working directory and sys.path."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import fast_overrides
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.models.registry import factory_folder, pythonpath_prefix

runner = CliRunner()
PACKAGE = "zenopt_test_user_nets"  # a name nothing else on sys.path has
REF = f"{PACKAGE}.small:tiny"
FACTORY = """
from torch import nn


def tiny(input_shape, num_outputs, width=16):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(input_shape[0], width), nn.ReLU(), nn.Linear(width, num_outputs)
    )
"""


def _forget_package() -> None:
    for name in [m for m in sys.modules if m.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def user_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The user's package in its own folder, and a run made with that folder as the working
    directory and on sys.path (as ``python -m zenopt`` or ``PYTHONPATH=.`` give)."""
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    home = tmp_path_factory.mktemp("user-project")
    (home / PACKAGE).mkdir()
    (home / PACKAGE / "__init__.py").write_text("")
    (home / PACKAGE / "small.py").write_text(FACTORY)
    config = load_config(None, fast_overrides("data.source=iris", f"model.name={REF}", epochs=2))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(home)
        patch.syspath_prepend(str(home))
        run_pipeline(config, home / "run", console=Console(quiet=True), quiet=True)
    _forget_package()
    return home, home / "run"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Another working directory, and a sys.path on which the user's package is not found;
    whatever a command adds to sys.path is undone afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    _forget_package()
    assert importlib.util.find_spec(PACKAGE) is None
    yield tmp_path
    _forget_package()


def _iris_rows(folder: Path) -> Path:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    header = ",".join(bunch.feature_names)
    rows = "\n".join(",".join(f"{v:.1f}" for v in row) for row in bunch.data[::10])
    (folder / "new.csv").write_text(f"{header}\n{rows}\n")
    return folder / "new.csv"


def _predictions(model: Path, data: Path, backend: str) -> list[str]:
    result = runner.invoke(app, ["predict", str(model), str(data), "--backend", backend])
    assert result.exit_code == 0, result.output
    return [row["prediction"] for row in csv.DictReader(io.StringIO(result.stdout))]


def test_the_run_records_the_folder_of_the_users_package(user_run: tuple[Path, Path]) -> None:
    home, run = user_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["model"]["factory_folder"] == str(home.resolve())
    assert json.loads((run / "model.json").read_text())["factory_folder"] == str(home.resolve())


def test_predict_in_torch_from_another_folder(user_run: tuple[Path, Path], elsewhere: Path) -> None:
    data = _iris_rows(elsewhere)
    in_torch = _predictions(user_run[1], data, "torch")
    assert in_torch == _predictions(user_run[1], data, "onnxruntime")
    assert len(in_torch) == 15


def test_compress_from_another_folder(user_run: tuple[Path, Path], elsewhere: Path) -> None:
    run = shutil.copytree(user_run[1], elsewhere / "run")
    # pruning rebuilds the factory's net (compress.structured) to record the new widths
    plan = "prune(ratio=0.5, round_to=8, epochs=1)"
    result = runner.invoke(app, ["compress", str(run), "--plan", plan, "--name", "half", "-q"])
    assert result.exit_code in (0, 1), result.output  # 1: a requirement missed, not a failure
    candidate = run / "compressed" / "half"
    _forget_package()
    data = _iris_rows(elsewhere)
    assert _predictions(candidate, data, "torch") == _predictions(candidate, data, "onnxruntime")


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_folder_moved_away_names_pythonpath(
    user_run: tuple[Path, Path], elsewhere: Path, how: str
) -> None:
    home = elsewhere / "project"
    shutil.copytree(user_run[0], home)
    run = home / "run"
    spec = json.loads((run / "model.json").read_text())
    spec["factory_folder"] = str(home)
    (run / "model.json").write_text(json.dumps(spec))
    shutil.rmtree(home / PACKAGE)
    if how == "deleted":
        shutil.move(run, elsewhere / "run")
        shutil.rmtree(home)
        run = elsewhere / "run"
    result = runner.invoke(
        app, ["predict", str(run), str(_iris_rows(elsewhere)), "--backend", "torch"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    where = (
        f"the run imported {PACKAGE!r} from {home}, which no longer exists"
        if how == "deleted"
        else f"{PACKAGE!r} is no longer in {home}, where the run imported it from"
    )
    assert lines == [
        f"error: model.name={REF!r}: {where}; set PYTHONPATH=<the folder that now holds "
        f"{PACKAGE}.py or {PACKAGE}/> and run again"
    ]


def test_zoo_and_installed_models_record_no_folder() -> None:
    assert factory_folder("mlp") is None
    assert factory_folder("torch.nn:Linear") is None  # site-packages: installed, found anyway
    assert pythonpath_prefix(None) == ""
    assert pythonpath_prefix("/a b/c") == "PYTHONPATH='/a b/c' "
