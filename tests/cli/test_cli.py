from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FAST_BENCH
from typer.testing import CliRunner

from zenopt.cli.app import app

runner = CliRunner()


def _sets(*items: str) -> list[str]:
    out: list[str] = []
    for item in [*FAST_BENCH, *items]:
        out += ["--set", item]
    return out


def test_help_is_fast_and_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from zenopt.cli.app import app\n"
        "try:\n    app(['--help'], prog_name='zenopt')\n"
        "except SystemExit as e:\n    code = e.code\n"
        "names = ('torch', 'onnxruntime', 'sklearn', 'matplotlib')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "HEAVY []" in result.stdout
    for command in ("run", "profile", "report"):
        assert command in result.stdout


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("zenopt")
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("zenopt ")


def test_run_exit_0_when_all_requirements_met(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            "--dataset",
            "iris",
            "--model",
            "mlp",
            "--out",
            str(out),
            *_sets("train.epochs=30", "requirements.min_accuracy=0.6"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["verdict"]["all_met"]
    assert re.search(r"min_accuracy .* met ", result.output), result.output
    assert (out / "config.yaml").is_file() and (out / "report.html").is_file()


def test_run_exit_1_and_names_the_missed_requirement(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            "--dataset",
            "breast_cancer",
            "--model",
            "mlp",
            "--set",
            "train.optimizer=sgd",
            "--set",
            "train.lr=0.05",
            "--out",
            str(out),
            *_sets("requirements.max_latency_ms=0.000001"),
            "-q",
        ],
    )
    assert result.exit_code == 1, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["verdict"]["missed"] == ["max_latency_ms"]
    assert manifest["decisions"]["efficiency"]["met"] is False
    assert manifest["status"] == "complete"
    assert "missed" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "train.optimizer=adagrad"],
            "train.optimizer: must be 'sgd', 'adam', 'adamw' or 'rmsprop'",
        ),
        (["--set", "train.lrate=1"], "unknown key 'train.lrate'"),
        (["--dataset", "nope"], "data.source='nope': neither a bundled data set"),
        (["--dataset", "iris", "--model", "mnist_cnn"], "needs image input"),
        (
            ["--dataset", "iris", "--set", "requirements.max_mse=1"],
            "requirements.max_mse is a regression target",
        ),
        (["--config", "missing.yaml"], "missing.yaml: config file not found"),
        (
            ["--dataset", "iris", "--set", "bench.backends=[tvm]"],
            "bench.backends: 'tvm' is unknown",
        ),
        (
            ["--dataset", "iris", "--set", "data.augment=[rotate]"],
            "data.augment: 'rotate' moves pixels, but 'iris' is a table; use noise or mixup",
        ),
        (["--set", "data.pca=3"], "data.pca=3 applies to tables, not images; remove it"),
        (
            ["--dataset", "iris", "--set", "bench.host_lock=/no-such-zenopt-folder/x.lock"],
            "bench.host_lock: cannot use the host lock file /no-such-zenopt-folder/x.lock",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "never"
    result = runner.invoke(app, ["run", *args, "--out", str(out), "-q"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()  # nothing half-written


def _zenopt(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("zenopt")
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, check=False)


def test_debug_shows_the_traceback() -> None:
    plain = _zenopt("run", "--set", "train.optimizer=adagrad")
    debug = _zenopt("--debug", "run", "--set", "train.optimizer=adagrad")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert debug.returncode != 0 and "Traceback (most recent call last)" in debug.stderr
    assert "ConfigError" in debug.stderr


def test_diverging_training_exits_2_with_advice(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "run",
            "--dataset",
            "diabetes",
            "--out",
            str(tmp_path / "r"),
            *_sets("train.lr=10", "train.optimizer=sgd", "train.epochs=3"),
            "-q",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "training diverged" in result.output and "lower train.lr" in result.output


def test_used_out_folder_needs_overwrite(iris_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = iris_run
    result = runner.invoke(app, ["run", "--dataset", "iris", "--out", str(run_dir), "-q"])
    assert result.exit_code == 2 and "--overwrite" in result.output


def test_profile_command_on_the_exported_model(
    iris_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    run_dir, manifest = iris_run
    out = tmp_path / "p.json"
    result = runner.invoke(
        app,
        [
            "profile",
            str(run_dir / "model.onnx"),
            "--batch",
            "1",
            "--batch",
            "64",
            "--repeats",
            "20",
            "--warmup",
            "2",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    latency = data["profile"]["onnxruntime"]["latency_ms"]
    assert set(latency) == {"b1", "b64"} and latency["b1"]["repeats"] == 20
    assert data["flops"] == manifest["cost"]["flops"] and "p95 ms" in result.output
    # The extras: top operators per batch, and the fraction of this machine's GEMM peak.
    analysis = data["analysis"]
    assert set(analysis["operators"]) == {"b1", "b64"}
    assert analysis["operators"]["b64"]["batch"] == 64 and "top operators" in result.output
    model = analysis["ceiling"]["model"]
    rate = data["profile"]["onnxruntime"]["throughput"]["b64"]
    assert model["gflops"] == pytest.approx(data["flops"] * rate / 1e9)
    assert model["fraction_fp32"] == pytest.approx(
        model["gflops"] / analysis["ceiling"]["fp32"]["peak_gops"]
    )
    assert "threads" not in analysis  # thread scaling only with --scaling


def test_profile_thread_scaling(iris_run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = iris_run
    args = ["profile", str(run_dir / "model.onnx"), "--batch", "4", "--repeats", "10"]
    result = runner.invoke(app, [*args, "--scaling", "--no-operators", "--no-ceiling"])
    assert result.exit_code == 0, result.output
    assert "thread scaling" in result.output and "top operators" not in result.output


def test_profile_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["profile", str(tmp_path / "no.onnx")])
    assert result.exit_code == 2 and "file not found" in result.output


def test_report_command_rebuilds_html(
    iris_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    run_dir, _ = iris_run
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "manifest.json").write_bytes((run_dir / "manifest.json").read_bytes())
    result = runner.invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    assert (copy / "report.html").read_text() == (run_dir / "report.html").read_text()


def test_zenopt_run_as_a_real_process_exit_codes() -> None:
    bad = _zenopt("run", "--set", "train.epochs=0")
    assert bad.returncode == 2
    assert "train.epochs=0: model mnist_cnn is trained by zenopt" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_report_refuses_an_incomplete_run(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "running"}))
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "status is 'running'" in result.output


def test_worker_refuses_sqlite_storage(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["worker", "--storage", f"sqlite:///{tmp_path}/s.db", "--study", "s"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: --storage sqlite:///{tmp_path}/s.db: SQLite cannot be shared safely between "
        "worker processes (no heartbeats, file locking); use postgresql://user:password@host/db"
    )


def test_tune_searches_even_without_targets_and_spends_the_budget(tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    sets = [a for item in FAST_BENCH if not item.startswith("tune.") for a in ("--set", item)]
    args = ["tune", "--dataset", "iris", "--model", "mlp", "--trials", "5", "-o", str(out), "-q"]
    space = "tune.space.train.lr={type: float, low: 0.001, high: 0.1, log: true}"  # dotted key
    sets += ["--set", "tune.trials=3"]  # a --set wins over the --trials shortcut, as documented
    result = runner.invoke(app, [*args, *sets, "--set", "train.epochs=3", "--set", space])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    tune = manifest["tune"]
    assert manifest["config"]["tune"]["when"] == "always"
    assert tune["counts"]["counted"] == 3 and tune["stopped"] == "trial budget spent"
    assert tune["budget_trials"] == 3 and len(tune["trials"]) == 3
    assert list(tune["space"]) == ["train.lr"]
    assert all(t["epochs_reported"] <= 3 for t in tune["trials"])
