"""An ``onnx:PATH`` model with an operator zenopt's converter lacks (LayerNormalization) runs
as its ONNX graph: through the whole flow from the command line (exit 0 when the
requirements are met, 1 when missed), measured as ONNX Runtime measures the file, searched
with graph techniques only, with the report's one line on why the PyTorch ones were not
tried; a PyTorch technique asked for is one line and exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from tests.conftest import fast_overrides
from tests.datafiles import write_idx
from tests.onnx_models import digits_cnn
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.runtime.onnx_runtime import make_session

pytestmark = pytest.mark.slow


def _cli_run(model: Path, out: Path, *extra: str) -> Any:
    overrides = fast_overrides(f"model.name=onnx:{model}", "data.source=digits", *extra)
    args = ["run", "--out", str(out), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    return CliRunner().invoke(app, args)


def _file_scores(model: Path, X: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    scores: np.ndarray = session.run(None, {session.get_inputs()[0].name: X})[0]
    return scores


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("graph-only")
    model = digits_cnn(folder / "normed.onnx", epochs=3, normed=True)
    run = folder / "run"
    search = ["compress.search.when=always", "compress.search.trials=4",
              "compress.search.ladder=false", "requirements.min_accuracy=0.5"]  # fmt: skip
    result = _cli_run(model, run, *search)
    assert result.exit_code == 0, result.output  # met
    return model, run, json.loads((run / "manifest.json").read_text())


def test_it_is_measured_as_onnx_runtime_measures_the_file(graph_run) -> None:  # type: ignore[no-untyped-def]
    from zenopt.core.config import RunConfig
    from zenopt.flow.data import prepare_data

    model, run, manifest = graph_run
    assert manifest["model"]["name"] == "onnx_file" and manifest["training"]["epochs_run"] == 0
    assert "LayerNormalization" in manifest["model"]["params"]["reason"]
    splits = prepare_data(RunConfig.model_validate(manifest["config"])).prepared.splits
    for split, key in ((splits.val, "validation"), (splits.test, "test")):
        want = float(np.mean(_file_scores(model, split.X.astype(np.float32)).argmax(1) == split.y))
        assert manifest["quality"][key]["accuracy"] == pytest.approx(want, abs=1e-9)
    exported = _file_scores(run / "model.onnx", splits.val.X.astype(np.float32))
    probabilities = _file_scores(model, splits.val.X.astype(np.float32))
    softmax = np.exp(exported) / np.exp(exported).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, probabilities, atol=1e-5)  # the export gives scores


def test_the_search_tried_graph_techniques_only_and_the_report_says_why(graph_run) -> None:  # type: ignore[no-untyped-def]
    _, run, manifest = graph_run
    space = manifest["config"]["compress"]["search"]["space"]
    assert space["prune_ratio"] == [0.0] and space["distill"] == [False]
    assert space["runtime"] == ["onnxruntime"] and "bf16" not in space["precision"]
    plans = [json.loads(p.read_text())["plan"] for p in run.glob("search/trial-*/candidate.json")]
    assert plans and all("prune" not in p and "distill" not in p for p in plans)
    assert all("runtime(name=onnxruntime" in p for p in plans)
    line = manifest["training"]["pytorch_techniques"]
    assert line.startswith("pruning, distillation, QAT and bf16 were not tried")
    assert "tries graph techniques only" in line
    assert "LayerNormalization" in line
    assert "pruning, distillation, QAT and bf16 were not tried" in (run / "report.html").read_text()


def test_predict_gives_what_the_file_gives(graph_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_digits

    model, run, _ = graph_run
    images = load_digits().images[:30].astype(np.uint8)
    path = write_idx(tmp_path / "new-images-idx3-ubyte", images)
    result = CliRunner().invoke(app, ["predict", str(run), str(path)])
    assert result.exit_code == 0, result.output
    predicted = [row["prediction"] for row in csv.DictReader(io.StringIO(result.stdout))]
    expected = _file_scores(model, images.astype(np.float32)[:, None]).argmax(axis=1)
    assert predicted == [str(c) for c in expected]
    torch = CliRunner().invoke(app, ["predict", str(run), str(path), "--backend", "torch"])
    assert torch.exit_code == 2 and "no PyTorch form" in torch.output  # not ORT called torch


def test_compress_takes_graph_plans_and_refuses_pytorch_ones(graph_run) -> None:  # type: ignore[no-untyped-def]
    _, run, _ = graph_run
    refused = CliRunner().invoke(app, ["compress", str(run), "--plan", "prune(ratio=0.5)"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    lines = [line for line in refused.output.splitlines() if "error" in line]
    assert len(lines) == 1 and "needs a PyTorch form" in lines[0], refused.output
    plan = "quantize(mode=static) -> runtime(name=onnxruntime, graph_optimization=extended)"
    taken = CliRunner().invoke(app, ["compress", str(run), "--plan", plan, "--name", "int8"])
    assert taken.exit_code in (0, 1), taken.output
    folder = run / "compressed" / "int8"
    candidate = json.loads((folder / "candidate.json").read_text())
    assert candidate["fidelity"]["against"].startswith("its FP32 ONNX graph")
    assert candidate["onnx_only"] and candidate["vs_torch_fp32"] == candidate["vs_onnxruntime_fp32"]
    level = make_session(folder / "model.onnx", 1).get_session_options().graph_optimization_level
    assert level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # the level the plan chose


def test_a_missed_requirement_exits_1_and_pytorch_settings_exit_2(
    graph_run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = graph_run
    missed = _cli_run(model, tmp_path / "missed", "requirements.max_latency_ms=0.0001")
    assert missed.exit_code == 1, missed.output
    for setting, phrase in (
        ("bench.backends=[torch, onnxruntime]", "bench.backends="),
        ("compress.search.space.prune_ratio=[0.0, 0.5]", "compress.search.space.prune_ratio"),
        ("requirements.min_throughput_speedup=2", "ratio to PyTorch eager FP32"),
        ("compress.plan=[{method: distill}]", "needs a PyTorch form"),
    ):
        result = _cli_run(model, tmp_path / "refused", setting)
        assert result.exit_code == 2, (setting, result.output)
        assert phrase in result.output and "LayerNormalization" in result.output, result.output
        assert "Traceback" not in result.output
