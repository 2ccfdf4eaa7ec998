from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zenopt.core.errors import ConfigError
from zenopt.profile import count_flops, count_params, measure_calls, summarize_latency
from zenopt.profile.latency import make_batch, profile_predictor, summarize_throughput
from zenopt.profile.onnx_file import profile_onnx_file


class CountingPredictor:
    name = "counting"
    threads = 1

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def load(self, path: Path, threads: int) -> None:  # pragma: no cover - protocol only
        pass

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.shapes.append(x.shape)
        return x

    def close(self) -> None:  # pragma: no cover - protocol only
        pass


def test_measure_calls_warms_up_then_times_each_call() -> None:
    predictor = CountingPredictor()
    samples = measure_calls(predictor.predict, np.zeros((1, 2), np.float32), warmup=5, repeats=17)
    assert len(predictor.shapes) == 22 and samples.shape == (17,)


def test_summary_statistics_are_numpy_percentiles() -> None:
    samples = np.random.default_rng(0).gamma(2.0, 1.0, 500)
    stats = summarize_latency(samples, batch=1, warmup=3, threads=2)
    ref = np.percentile(samples, [50, 90, 95, 99])
    assert [stats.p50, stats.p90, stats.p95, stats.p99] == pytest.approx(ref.tolist())
    assert stats.repeats == 500 and stats.warmup == 3 and stats.threads == 2
    assert stats.std == pytest.approx(np.std(samples, ddof=1))
    tp = summarize_throughput(samples, batch=64, warmup=3, threads=2)
    assert tp.samples_per_s == pytest.approx(64 / (np.median(samples) / 1e3))
    assert tp.samples_per_s_min <= tp.samples_per_s <= tp.samples_per_s_max


def test_profile_predictor_uses_real_samples_at_each_batch() -> None:
    pool = np.arange(10, dtype=np.float32).reshape(5, 2)
    predictor = CountingPredictor()
    profile = profile_predictor(
        predictor,
        pool,
        [1, 4, 8],
        warmup=2,
        repeats=12,
        throughput_repeats=4,
        load_ms=0.0,
        latency_batches=frozenset({1, 4}),
    )
    assert [profile.latency[b].repeats for b in (1, 4, 8)] == [12, 12, 4]
    assert predictor.shapes.count((1, 2)) == 14 and predictor.shapes.count((8, 2)) == 6
    assert profile.throughput[8].warmup == 2
    batch = make_batch(pool, 8)
    np.testing.assert_array_equal(batch[5:], pool[:3])  # tiled from the pool, not random


def test_flops_of_linear_and_conv_follow_the_textbook_formula() -> None:
    assert count_flops(nn.Linear(30, 20), (30,)) == 2 * 30 * 20
    conv = nn.Conv2d(3, 8, 3)
    assert count_flops(conv, (3, 10, 10)) == 2 * (8 * 8 * 8) * (3 * 3 * 3)


def test_count_params() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    assert count_params(model) == 4 * 3 + 3 + 3 * 2 + 2


def test_profile_any_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "lin.onnx"
    torch.onnx.export(
        nn.Linear(6, 2).eval(),
        (torch.zeros(1, 6),),
        str(path),
        input_names=["x"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    result = profile_onnx_file(path, [1, 4], threads=1, warmup=1, repeats=10)
    assert result["initializer_values"] == 6 * 2 + 2
    assert result["flops"] == 2 * 6 * 2
    assert set(result["profile"]["onnxruntime"]["latency_ms"]) == {"b1", "b4"}
    assert result["profile"]["onnxruntime"]["latency_ms"]["b4"]["repeats"] == 10


def test_profile_rejects_non_batch_dynamic_axes(tmp_path: Path) -> None:
    path = tmp_path / "dyn.onnx"
    torch.onnx.export(
        nn.Linear(6, 2).eval(),
        (torch.zeros(2, 3, 6),),
        str(path),
        input_names=["x"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1), 1: torch.export.Dim("seq", min=1)},),
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    with pytest.raises(ConfigError, match="dynamic dimension .* at axis 1"):
        profile_onnx_file(path, [1], threads=1, warmup=0, repeats=10)


def test_onnx_flops_equal_torch_flop_counter_on_exported_models(tmp_path: Path) -> None:
    from zenopt.models import build_model
    from zenopt.profile.onnx_cost import onnx_flops
    from zenopt.runtime.export import export_onnx

    for name, shape in (("mnist_cnn", (1, 12, 12)), ("tf_cnn", (1, 8, 8)), ("mlp", (7,))):
        model = build_model(name, shape, 5, {}).eval()
        path = export_onnx(model, shape, tmp_path / f"{name}.onnx")
        assert onnx_flops(path) == count_flops(model, shape), name
