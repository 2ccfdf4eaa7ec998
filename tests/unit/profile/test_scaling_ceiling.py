"""Batch/thread ladders and curves, the GEMM ceiling (its kernels against NumPy, its cache),
achieved-rate arithmetic and the fresh-process memory probe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from tests.onnx_models import dense_onnx

from zenopt.profile.ceiling import _model, achieved, gemm_ceiling, measure_gemm
from zenopt.profile.machine import fingerprint
from zenopt.profile.memory import inference_memory
from zenopt.profile.scaling import batch_ladder, batch_scaling, thread_ladder, thread_scaling
from zenopt.runtime.onnx_runtime import make_session


def test_ladders_double_and_end_at_the_largest() -> None:
    assert batch_ladder(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert batch_ladder(100) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert batch_ladder(1) == [1]
    assert thread_ladder(1) == [1] and thread_ladder(2) == [1, 2]
    assert thread_ladder(6) == [1, 2, 4, 6]


def test_batch_curve_measures_every_batch_with_its_counts(tmp_path: Path) -> None:
    path = dense_onnx(tmp_path / "m.onnx")
    pool = np.random.default_rng(1).standard_normal((5, 32)).astype(np.float32)
    points = batch_scaling("onnxruntime", path, pool, [1, 2, 8], 1, 2, 12, 4)
    assert [p["batch"] for p in points] == [1, 2, 8]
    assert [p["repeats"] for p in points] == [12, 4, 4]
    for p in points:
        assert p["warmup"] == 2 and p["threads"] == 1
        assert p["samples_per_s"] == pytest.approx(p["batch"] / (p["p50_ms"] / 1e3))
        assert p["samples_per_s_min"] <= p["samples_per_s"] <= p["samples_per_s_max"]


def test_thread_scaling_is_relative_to_one_thread(tmp_path: Path) -> None:
    path = dense_onnx(tmp_path / "m.onnx")
    pool = np.zeros((4, 32), np.float32)
    rows = thread_scaling("onnxruntime", path, pool, [1, 2], (1, 4), 1, (10, 3))
    assert [r["threads"] for r in rows] == [1, 2]
    assert rows[0]["throughput_speedup"] == 1 and rows[0]["efficiency"] == 1
    second = rows[1]
    expected = second["throughput"]["samples_per_s"] / rows[0]["throughput"]["samples_per_s"]
    assert second["throughput_speedup"] == pytest.approx(expected)
    assert second["efficiency"] == pytest.approx(expected / 2)
    assert second["latency"]["batch"] == 1 and second["throughput"]["batch"] == 4


@pytest.mark.parametrize("kind", ["fp32", "int8"])
def test_gemm_kernels_compute_the_matrix_product(tmp_path: Path, kind: str) -> None:
    n = 16
    path = tmp_path / f"{kind}.onnx"
    path.write_bytes(_model(kind, n))
    weights = numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0])
    rng = np.random.default_rng(3)
    a = (
        rng.standard_normal((n, n)).astype(np.float32)
        if kind == "fp32"
        else rng.integers(0, 255, (n, n), dtype=np.uint8)
    )
    got = make_session(path, 1).run(None, {"A": a})[0]
    if kind == "fp32":
        np.testing.assert_allclose(got, a @ weights, rtol=1e-4, atol=1e-4)
    else:  # integer arithmetic is exact
        np.testing.assert_array_equal(got, a.astype(np.int32) @ weights.astype(np.int32))


def test_gemm_rate_is_operations_over_call_time() -> None:
    result = measure_gemm("fp32", 64, 1, warmup=1, repeats=5)
    assert result["n"] == 64 and result["repeats"] == 5
    assert result["peak_gops"] >= result["median_gops"] > 0


def test_ceiling_is_measured_once_per_machine_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENOPT_CACHE_DIR", str(tmp_path / "cache"))
    env = fingerprint()
    first = gemm_ceiling(env, 1, n=64)
    again = gemm_ceiling(env, 1, n=64)
    assert not first["cached"] and again["cached"]
    assert again["fp32"] == first["fp32"] and again["int8"] == first["int8"]
    assert len(list((tmp_path / "cache").glob("gemm-ceiling-*.json"))) == 1
    other = gemm_ceiling({**env, "cpu_model": "another CPU"}, 1, n=64)
    assert not other["cached"] and other["key"] != first["key"]
    (tmp_path / "cache" / f"gemm-ceiling-{first['key']}.json").write_text("{broken")
    assert not gemm_ceiling(env, 1, n=64)["cached"]  # a broken cache is measured again


def test_achieved_rate_and_fraction_of_peak() -> None:
    assert achieved(2e6, 5000.0, 100.0) == {"gflops": 10.0, "fraction": 0.1}
    assert achieved(None, 5000.0, 100.0) == {"gflops": None, "fraction": None}


def test_memory_probe_sees_the_model_load_in_a_fresh_process(tmp_path: Path) -> None:
    path = dense_onnx(tmp_path / "big.onnx", features=2048, outputs=2048)  # 16 MiB of weights
    weights_mb = 2048 * 2048 * 4 / 2**20
    x = np.zeros((8, 2048), np.float32)
    result = inference_memory("onnxruntime", path, x, threads=1, calls=3)
    assert result["load_mb"] >= 0.8 * weights_mb
    assert result["runtime_mb"] > 0 and result["load_ms"] > 0
    assert result["inference_mb"] >= 0 and result["peak_rss_mb"] >= result["runtime_mb"]
    assert result["batch"] == 8 and result["calls"] == 3
    assert result["torch_loaded"] is False  # the ONNX Runtime child holds ONNX Runtime alone
    with pytest.raises(RuntimeError, match="memory probe of onnxruntime"):
        inference_memory("onnxruntime", tmp_path / "missing.onnx", x, threads=1)


def test_a_refresh_keeps_the_best_rate_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENOPT_CACHE_DIR", str(tmp_path))
    env = fingerprint()
    first = gemm_ceiling(env, 1, n=64)
    path = tmp_path / f"gemm-ceiling-{first['key']}.json"
    low = json.loads(path.read_text())
    low["fp32"]["peak_gops"] = 1e-6  # as if measured on a very busy machine
    low["int8"]["peak_gops"] = 1e9  # higher than this machine can do: kept
    path.write_text(json.dumps(low))
    again = gemm_ceiling(env, 1, n=64, refresh=True)
    assert not again["cached"] and again["fp32"]["peak_gops"] > 1e-6
    assert again["int8"]["peak_gops"] == 1e9
    assert json.loads(path.read_text())["fp32"] == again["fp32"]
