"""The final speed confirmation on a finished run: one interleaved session, the per-round
ratios recomputed from its rounds, and the noise guard's marks from an injected load reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from tests.load_probes import FakeProbe

from zenopt.core.config import load_config
from zenopt.core.errors import ConfigError
from zenopt.flow.compress import CompressOptions, load_finished_run
from zenopt.flow.speed import confirm_speed, speed_checks
from zenopt.runtime.deployed import deployed_model


def _context(run: Path, **bench: Any) -> Any:
    config = load_config(run / "config.yaml")
    config = config.model_copy(update={"bench": config.bench.model_copy(update=bench)}, deep=True)
    ctx, trained = load_finished_run(run, config, Console(quiet=True), CompressOptions())
    return ctx, trained


def test_headline_ratios_are_medians_of_per_round_ratios(
    iris_run: tuple[Path, dict[str, Any]],
) -> None:
    run, manifest = iris_run
    ctx, trained = _context(run, noise_spread=1e9, noise_retries=0, confirm_rounds=4)
    speed = confirm_speed(ctx, trained, deployed_model(run, manifest), FakeProbe([0.0] * 4))
    figures, session = speed.figures, speed.session
    # The FP32 export deployed as it is is one of the baselines, timed once.
    assert session["deployed_as"] == "onnxruntime FP32"
    assert set(session["models"]) == {"torch FP32", "onnxruntime FP32"}
    assert session["rounds"] == 4
    assert session["calls_per_round"]["latency"] == ctx.config.bench.repeats
    # The order rotates every round.
    assert [o[0] for o in session["order"]] == ["torch FP32", "onnxruntime FP32"] * 2
    lat = figures["latency_ms"]["rounds"]
    speedup = figures["latency_speedup_vs_torch"]
    assert len(lat) == 4 and speedup["median"] == pytest.approx(np.median(speedup["rounds"]))
    assert figures["latency_speedup_vs_onnxruntime"]["rounds"] == [1.0] * 4  # itself
    for figure in figures.values():
        assert figure["low"] <= figure["high"] and figure["noisy"] is None
    assert session["noisy"] is False and len(session["attempts"]) == 1
    # Requirements on these figures are judged on their cautious ends.
    req = ctx.config.requirements.model_copy(
        update={"min_latency_speedup": speedup["low"] * 0.99, "max_latency_ms": 1e-6}
    )
    checks = {c.name: c for c in speed_checks(req, speed)}
    assert checks["min_latency_speedup"].met and not checks["max_latency_ms"].met
    assert checks["min_latency_speedup"].interval == [speedup["low"], speedup["high"]]


def test_a_busy_reading_marks_every_figure_and_is_timed_again_once(
    iris_run: tuple[Path, dict[str, Any]],
) -> None:
    run, manifest = iris_run
    deployed = deployed_model(run, manifest)
    ctx, trained = _context(run, noise_spread=1e9, noise_retries=0, confirm_rounds=3)
    busy = confirm_speed(ctx, trained, deployed, FakeProbe([0.1, 0.9, 1.4]))
    reason = "1.4 cores busy elsewhere during rounds 2–3"
    assert all(f["noisy"] == reason for f in busy.figures.values())
    assert busy.session["noisy"] is True
    # With a retry, an unsteady session is measured again after the pause.
    settings = {"noise_retries": 1, "noise_wait_s": 0.0, "noise_window_s": 0.01}
    ctx, trained = _context(run, noise_spread=1e9, confirm_rounds=3, **settings)
    first, second = [0.0, 0.9, 0.0, 0.0], [0.0] * 4  # the quiet check, then 3 rounds
    readings = [*first, *second]
    again = confirm_speed(ctx, trained, deployed, FakeProbe(readings))
    attempts = again.session["attempts"]
    assert [a["steady"] for a in attempts] == [False, True] and not again.session["noisy"]
    assert attempts[0]["rounds_busy_elsewhere"] == [0.9, 0.0, 0.0]
    assert all(f["noisy"] is None for f in again.figures.values())


def test_a_wide_spread_is_noisy_on_its_own(iris_run: tuple[Path, dict[str, Any]]) -> None:
    run, manifest = iris_run
    ctx, trained = _context(run, noise_spread=1e-9, noise_retries=0, confirm_rounds=3)
    speed = confirm_speed(ctx, trained, deployed_model(run, manifest), FakeProbe([0.0] * 3))
    latency = speed.figures["latency_ms"]
    assert latency["noisy"].startswith("rounds spread ±") and "above ±0%" in latency["noisy"]
    assert speed.figures["latency_speedup_vs_onnxruntime"]["noisy"] is None  # exactly 1×


def test_the_session_settings_are_validated() -> None:
    config = load_config(None, ["bench.confirm_rounds=2"])
    assert config.bench.confirm_rounds == 2
    with pytest.raises(ConfigError, match="confirm_rounds"):
        load_config(None, ["bench.confirm_rounds=1"])
