"""Every documented example config runs end to end on the example data it documents."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import FAST_BENCH
from typer.testing import CliRunner

from zenopt.cli.app import app

EXAMPLES = Path(__file__).parents[2] / "examples"
CONFIGS = sorted(
    p.name
    for p in EXAMPLES.glob("*.yaml")
    if p.name
    not in {"digits.yaml", "tune_breast_cancer.yaml", "compress_digits.yaml", "keras_mnist.yaml"}
)
runner = CliRunner()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like the repository: examples/*.yaml and examples/data/."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(EXAMPLES, root / "examples", ignore=shutil.ignore_patterns("data"))
    spec = importlib.util.spec_from_file_location(
        "make_example_data", EXAMPLES / "make_example_data.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(root / "examples" / "data")
    return root


def test_compress_example_is_the_default_job_with_the_plan() -> None:
    from zenopt.compress import check_plan, plan_label
    from zenopt.core.config import load_config

    config = load_config(EXAMPLES / "compress_digits.yaml")
    default = load_config(EXAMPLES / "digits.yaml")
    check_plan(list(config.compress.plan))
    assert plan_label(list(config.compress.plan)) == (
        "prune(ratio=0.5) -> distill -> quantize(mode=static)"
    )
    assert (config.data, config.model, config.seed) == (default.data, default.model, default.seed)


def test_keras_example_is_the_default_job_with_the_keras_network() -> None:
    """Run by ``tests/integration/test_keras_factory.py`` (it needs the TensorFlow extra)."""
    from zenopt.core.config import load_config

    config = load_config(EXAMPLES / "keras_mnist.yaml")
    default = load_config(EXAMPLES / "digits.yaml")
    assert config.model.name == "examples.keras_mnist:classic_cnn"
    same = {
        "model": default.model,
        "requirements": default.requirements,
        "compress": default.compress,
    }  # this network's own efficiency targets and budget
    assert config.model_copy(update=same) == default
    assert config.requirements.min_accuracy == default.requirements.min_accuracy


def test_every_input_kind_has_an_example() -> None:
    assert CONFIGS == [
        "arrays_npz.yaml",
        "clinical_visits.yaml",
        "image_folder.yaml",
        "mnist_idx.yaml",
        "table_csv.yaml",
        "table_given_test.yaml",
        "table_parquet.yaml",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_example_runs(workdir: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workdir)
    out = workdir / "runs" / name
    args = [
        "run",
        "--config",
        f"examples/{name}",
        "--out",
        str(out),
        "-q",
        "--set",
        "train.epochs=3",
    ]
    for item in FAST_BENCH:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output  # 1: a requirement missed after 3 epochs
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["export"]["ok"]
    predicted = runner.invoke(app, ["predict", str(out), manifest["config"]["data"]["source"]])
    assert predicted.exit_code == 0, predicted.output
