"""The analysis stage end to end: a digits run (16×16, one epoch) deployed through a dynamic
INT8 plan, with every part on, checked against references recomputed from its own files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rich.console import Console
from tests.conftest import FAST_BENCH
from tests.onnx_graphs import optimized_graph
from typer.testing import CliRunner

from zenopt.cli.app import app
from zenopt.core.config import load_config
from zenopt.flow import run_pipeline
from zenopt.profile.operators import FLOAT_COMPUTE
from zenopt.profile.scaling import batch_ladder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("analysis")
    path = tmp / "config.yaml"
    path.write_text(
        yaml.safe_dump({"compress": {"plan": [{"method": "quantize", "mode": "dynamic"}]}})
    )
    overrides = [
        *FAST_BENCH,
        "data.source=digits",
        "data.resize=16",
        "model.name=mnist_cnn",
        "train.epochs=1",
        "analysis.operators=true",
        "analysis.scaling=true",
        "analysis.memory=true",
        "analysis.ceiling=true",
        "analysis.saliency_images=6",
    ]
    config = load_config(path, overrides)
    outcome = run_pipeline(config, tmp / "run", console=Console(quiet=True), quiet=True)
    return outcome.run_dir, outcome.manifest


def _float_nodes(path: Path, tmp: Path) -> list[str]:
    graph = optimized_graph(path, tmp)
    return sorted(f"{n.name} ({n.op_type})" for n in graph.node if n.op_type in FLOAT_COMPUTE)


def test_operator_comparison_names_what_stayed_in_float(
    digits_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    run_dir, manifest = digits_run
    analysis = manifest["analysis"]
    assert analysis["errors"] == {}
    assert analysis["models"] == ["torch FP32", "onnxruntime FP32", "chosen"]
    ops = analysis["operators"]
    assert set(ops["profiles"]) == set(analysis["models"])
    assert ops["batches"] == [1, 8] and ops["comparison"]["before"] == "onnxruntime FP32"
    candidate = manifest["compress"]["candidate"]
    chosen_onnx = run_dir / candidate["folder"] / candidate["files"]["onnx"]
    # Dynamic INT8 quantizes MatMul/Gemm only: the convolutions stay in float.
    expected = _float_nodes(chosen_onnx, tmp_path)
    for key in ("b1", "b8"):
        cmp = ops["comparison"]["batches"][key]
        assert cmp["stayed_float"] == expected and expected
        categories = {r["category"] for r in cmp["ops"]}
        assert "int8 compute" in categories and "float compute" in categories


def test_scaling_memory_and_ceiling_cover_every_model(
    digits_run: tuple[Path, dict[str, Any]],
) -> None:
    _, manifest = digits_run
    analysis = manifest["analysis"]
    scaling = analysis["scaling"]
    assert scaling["batches"] == batch_ladder(8)
    cores = len(os.sched_getaffinity(0))
    assert scaling["threads_tried"][0] == 1 and scaling["threads_tried"][-1] == cores
    for label in analysis["models"]:
        assert [p["batch"] for p in scaling["batch"][label]] == batch_ladder(8)
        assert [r["threads"] for r in scaling["threads"][label]] == scaling["threads_tried"]
        memory = analysis["memory"][label]
        assert memory["peak_rss_mb"] >= memory["runtime_mb"] > 0 and memory["batch"] == 8
    ceiling = analysis["ceiling"]
    for label, row in ceiling["models"].items():
        flops = (
            manifest["cost"]["flops"]
            if label != "chosen"
            else manifest["compress"]["candidate"]["flops"]
        )
        gflops = flops * row["samples_per_s"] / 1e9
        assert row["gflops"] == pytest.approx(gflops)
        fraction = gflops / row["peak_fp32_gops"]
        if fraction <= 1:
            assert row["fraction_fp32"] == pytest.approx(fraction)
        else:  # above the peak measured again: never shown as a fraction over 100%
            assert row["fraction_fp32"] is None and "fp32" in row["above_peak"]
        assert row["against"] == ("int8" if label == "chosen" else "fp32")
    assert ceiling["models"]["onnxruntime FP32"]["samples_per_s"] == pytest.approx(
        manifest["profile"]["onnxruntime"]["throughput"]["b8"]
    )


def test_explanations_of_an_image_model(digits_run: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = digits_run
    explain = manifest["analysis"]["explain"]
    cm = np.array(manifest["quality"]["test"]["confusion_matrix"])
    assert explain["confusions"]["errors"] == int(cm.sum() - np.trace(cm))
    items = explain["saliency"]["items"]
    assert len(items) == 6 and len({it["true"] for it in items}) == 6
    assert all(np.array(it["saliency"]).shape == (16, 16) for it in items)
    assert "importance" not in explain


def test_report_shows_every_analysis_and_is_rebuilt_alike(
    digits_run: tuple[Path, dict[str, Any]],
) -> None:
    run_dir, _ = digits_run
    html = (run_dir / "report.html").read_text()
    for section in ("operators", "scaling", "memory", "ceiling", "explain"):
        assert f'<section id="{section}">' in html
    assert "stayed in float" in html and "of FP32 peak" in html
    for alt in (
        "operators before and after at batch 1",
        "throughput against batch size",
        "saliency maps",
    ):
        assert f'alt="{alt}" src="data:image/png;base64,' in html
    before = html
    (run_dir / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "report.html").read_text() == before


def test_tabular_runs_get_permutation_importance(iris_run: tuple[Path, dict[str, Any]]) -> None:
    _, manifest = iris_run
    explain = manifest["analysis"]["explain"]
    features = manifest["data"]["preprocess"]["features"]
    assert sorted(r["feature"] for r in explain["importance"]["features"]) == sorted(features)
    assert "saliency" not in explain and "memory" not in manifest["analysis"]


def test_a_failing_analysis_part_is_recorded_and_the_run_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zenopt.flow.analysis as stage

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no memory probe here\nsecond line")

    monkeypatch.setattr(stage, "inference_memory", broken)
    config = load_config(
        None,
        [
            *FAST_BENCH,
            "data.source=iris",
            "model.name=mlp",
            "train.epochs=2",
            "analysis.memory=true",
            "analysis.scaling=false",
        ],
    )
    outcome = run_pipeline(config, tmp_path / "run", console=Console(quiet=True), quiet=True)
    analysis = outcome.manifest["analysis"]
    expected = "RuntimeError: no memory probe here"
    assert analysis["errors"] == {f"memory of {m}": expected for m in analysis["models"]}
    assert analysis["memory"] == {}
    assert outcome.manifest["status"] == "complete" and "explain" in analysis
    assert "Analysis parts that failed" in (outcome.run_dir / "report.html").read_text()


def test_analysis_numbers_are_tracked_under_their_manifest_path(
    digits_run: tuple[Path, dict[str, Any]],
) -> None:
    from zenopt.track.record import tracking_record

    _, manifest = digits_run
    metrics = tracking_record(manifest).metrics
    analysis = manifest["analysis"]
    chosen = analysis["ceiling"]["models"]["chosen"]
    assert metrics["analysis.ceiling.models.chosen.fraction_int8"] == chosen["fraction_int8"]
    assert metrics["analysis.ceiling.fp32.peak_gops"] == analysis["ceiling"]["fp32"]["peak_gops"]
    memory = analysis["memory"]["chosen"]["inference_mb"]
    assert metrics["analysis.memory.chosen.inference_mb"] == memory
    speedup = analysis["operators"]["comparison"]["batches"]["b8"]["kernel_speedup"]
    assert metrics["analysis.operators.comparison.batches.b8.kernel_speedup"] == speedup


def test_an_interrupted_analysis_leaves_the_verdict_and_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import zenopt.flow.run as pipeline

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_analysis", interrupted)
    config = load_config(
        None, [*FAST_BENCH, "data.source=iris", "model.name=mlp", "train.epochs=2"]
    )
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, tmp_path / "run", console=Console(quiet=True), quiet=True)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete" and "verdict" in manifest
    assert "analysis" not in manifest and (tmp_path / "run" / "report.html").is_file()
