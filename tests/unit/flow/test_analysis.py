"""The analysis stage's ceiling rule: a cached peak that a model beats is measured again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import zenopt.flow.analysis as stage
from zenopt.flow.analysis import Deployable


def _fake_ceiling(calls: list[bool]) -> Any:
    def fake(env: dict[str, Any], threads: int, n: int = 1024, refresh: bool = False) -> Any:
        calls.append(refresh)
        fp32 = 100.0 if refresh else 10.0  # the cached value was measured on a busy machine
        return {"cached": not refresh, "fp32": {"peak_gops": fp32}, "int8": {"peak_gops": 200.0}}

    return fake


@pytest.mark.parametrize(("rate", "refreshed"), [(20_000.0, True), (5_000.0, False)])
def test_ceiling_is_measured_again_only_when_a_model_beats_the_cached_peak(
    monkeypatch: pytest.MonkeyPatch, rate: float, refreshed: bool
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(stage, "gemm_ceiling", _fake_ceiling(calls))
    fp32 = Deployable(
        "onnxruntime FP32", "onnxruntime", Path("m.onnx"), 2, 1_000_000, False, {"b256": rate}
    )
    int8 = Deployable("chosen", "onnxruntime", Path("c.onnx"), 2, 100_000, True, {"b256": 90_000.0})
    out = stage._ceiling([fp32, int8], {}, 2, 256)
    assert calls == ([False, True] if refreshed else [False])
    peak = 100.0 if refreshed else 10.0
    row = out["models"]["onnxruntime FP32"]
    assert row["gflops"] == pytest.approx(rate * 1e6 / 1e9)
    assert row["fraction_fp32"] == pytest.approx(rate * 1e6 / 1e9 / peak)
    assert out["models"]["chosen"]["fraction_int8"] == pytest.approx(9.0 / 200.0)
    assert out["models"]["chosen"]["against"] == "int8" and row["against"] == "fp32"


def test_a_rate_above_the_peak_measured_again_is_flagged_and_never_over_100_percent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bool] = []

    def low_peak(env: dict[str, Any], threads: int, n: int = 1024, refresh: bool = False) -> Any:
        calls.append(refresh)  # both measurements below the model's rate
        return {"cached": not refresh, "fp32": {"peak_gops": 10.0}, "int8": {"peak_gops": 20.0}}

    monkeypatch.setattr(stage, "gemm_ceiling", low_peak)
    fp32 = Deployable("onnxruntime FP32", "onnxruntime", Path("m.onnx"), 2, 1_000_000, False,
                      {"b256": 30_000.0})  # fmt: skip
    out = stage._ceiling([fp32], {}, 2, 256)
    row = out["models"]["onnxruntime FP32"]
    assert calls == [False, True]  # measured again at once, then flagged
    assert row["fraction_fp32"] is None and row["fraction_int8"] is None
    assert row["above_peak"] == ["fp32", "int8"] and "30 GFLOP/s" in row["flag"]
    assert out["flags"] == [f"onnxruntime FP32: {row['flag']}"]
    for model in out["models"].values():
        for key in ("fraction_fp32", "fraction_int8"):
            assert model[key] is None or model[key] <= 1.0
