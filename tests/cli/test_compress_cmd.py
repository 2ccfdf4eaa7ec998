"""``zenopt compress RUN_DIR --plan …`` and ``compress.plan`` in a run's config."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import fast_overrides
from typer.testing import CliRunner

from zenopt.cli.app import app

runner = CliRunner()
CNN_RUN = ["data.source=digits", "data.resize=8", "model.name=mnist_cnn"]


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    config = load_config(None, fast_overrides(*CNN_RUN, "requirements.max_quality_drop=0.3"))
    out = tmp_path_factory.mktemp("runs") / "cnn"
    run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


@pytest.mark.slow
def test_compress_writes_a_measured_candidate(cnn_run: Path, tmp_path: Path) -> None:
    run = _copy(cnn_run, tmp_path)
    plan = "prune(ratio=0.5, epochs=1) -> distill(epochs=2) -> quantize"
    result = runner.invoke(app, ["compress", str(run), "--plan", plan, "--name", "small", "-q"])
    assert result.exit_code == 0, result.output
    folder = run / "compressed" / "small"
    record = json.loads((folder / "candidate.json").read_text())
    assert (
        record["plan"] == "prune(ratio=0.5, epochs=1) -> distill(epochs=2) -> quantize(mode=static)"
    )
    assert {p.name for p in folder.iterdir()} >= {"model.json", "model.safetensors", "model.onnx"}
    assert record["size_bytes"] == (folder / "model.onnx").stat().st_size
    # The reported quality is the candidate's own, in its runtime: on the validation split
    # (against the FP32 baseline's there) and, the plan being chosen, once on the test split.
    from zenopt.core.config import load_config
    from zenopt.flow.data import prepare_data
    from zenopt.runtime.predictor import predict_with_backend

    splits = prepare_data(load_config(run / "config.yaml")).prepared.splits
    for split, part in (("validation", splits.val), ("test", splits.test)):
        outputs = predict_with_backend("onnxruntime", folder / "model.onnx", part.X, 1)
        accuracy = np.mean(outputs.argmax(1) == part.y)
        assert record[split]["accuracy"] == pytest.approx(accuracy)
        assert record["drop"][split]["candidate"] == pytest.approx(accuracy)
    base = record["baseline"]["torch"]["quality"]["accuracy"]  # on validation
    drop = max(0.0, base - record["validation"]["accuracy"])
    assert record["quality_drop"] == pytest.approx(drop)
    # Ratios are of measured numbers, against torch eager fp32 in the same run.
    ratio = record["vs_torch_fp32"]
    torch_lat = record["baseline"]["torch"]["profile"]["latency_ms"]["b1"]["p50"]
    assert ratio["latency_b1_p50"] == pytest.approx(
        torch_lat / record["profile"]["latency_ms"]["b1"]["p50"]
    )
    assert ratio["size"] > 4  # 50% of the channels and 8-bit weights
    assert set(record["profile"]["throughput"]) >= {"b1", "b64", "b256"}
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["compressed"]["small"]["plan"] == record["plan"]
    assert "plan: prune(ratio=0.5" in result.output


@pytest.mark.slow
def test_compress_exit_1_when_the_candidate_misses_a_requirement(
    cnn_run: Path, tmp_path: Path
) -> None:
    run = _copy(cnn_run, tmp_path)
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(
        config.replace("max_quality_drop: 0.3", "max_quality_drop: 0.0")
    )
    # Pruning 90% of the channels without fine-tuning loses accuracy.
    # round_to=8: on an AVX-512 machine "auto" is 16, which leaves the 16-wide conv unpruned.
    prune = "prune(ratio=0.9, epochs=0, round_to=8)"
    args = ["compress", str(run), "--plan", prune, "--name", "same", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "max_quality_drop" in result.output and "missed" in result.output
    # The same name again, now ending in PyTorch: the earlier model.onnx is not left behind.
    plan = f"{prune} -> runtime(name=torch)"
    assert (run / "compressed" / "same" / "model.onnx").is_file()
    args = ["compress", str(run), "--plan", plan, "--name", "same", "-q"]
    assert runner.invoke(app, args).exit_code == 1
    assert not (run / "compressed" / "same" / "model.onnx").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "prune(ratio=2)"], "prune.ratio: must be less than 1"),
        (["--plan", "shrink"], "unknown method 'shrink'"),
        ([], "has no compress.plan; give --plan"),
    ],
)
def test_compress_bad_input_exits_2(
    iris_run: tuple[Path, dict[str, Any]], args: list[str], message: str
) -> None:
    run, _ = iris_run
    result = runner.invoke(app, ["compress", str(run), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_compress_needs_a_run_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["compress", str(tmp_path), "--plan", "prune"])
    assert result.exit_code == 2
    assert "no config.yaml here" in result.output


@pytest.mark.slow
def test_run_applies_the_configured_plan(tmp_path: Path) -> None:
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    plan = "[{method: prune, ratio: 0.5, epochs: 1}, {method: quantize}]"
    config = load_config(
        None,
        fast_overrides(*CNN_RUN, f"compress.plan={plan}", "requirements.max_size_mb=0.2"),
    )
    outcome = run_pipeline(config, tmp_path / "run", console=Console(quiet=True), quiet=True)
    manifest = outcome.manifest
    candidate = manifest["compress"]["candidate"]
    assert candidate["plan"] == "prune(ratio=0.5, epochs=1) -> quantize(mode=static)"
    size = next(r for r in manifest["requirements"] if r["name"] == "max_size_mb")
    # The verdict judges the compressed model, not the exported baseline.
    assert size["measured"] == pytest.approx(candidate["size_bytes"] / 1e6, rel=1e-3)
    assert manifest["verdict"]["deployed_model"] == candidate["folder"]
    assert (tmp_path / "run" / candidate["folder"] / "model.onnx").is_file()
    report = (tmp_path / "run" / "report.html").read_text()
    assert '<section id="compress">' in report and html.escape(candidate["plan"]) in report


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        # mnist_cnn at 8×8 keeps 16-wide convolutions: 90% of 16, in steps of 16, is nothing.
        ("prune(ratio=0.9, epochs=0, round_to=16)", "no effect: no channel removed at round_to=16"),
        (
            "quantize(mode=static, op_types=[Conv], keep_float=[Conv])",
            "no effect: every compute operator stayed in float",
        ),
    ],
)
def test_a_step_that_changes_nothing_is_refused_before_training(
    cnn_run: Path, tmp_path: Path, plan: str, message: str
) -> None:
    run = _copy(cnn_run, tmp_path)
    result = runner.invoke(app, ["compress", str(run), "--plan", plan, "-q"])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (run / "compressed").exists()  # nothing trained, nothing written
