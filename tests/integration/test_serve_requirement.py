"""A run with a serving requirement: the deployed model behind ``zenopt serve`` under open-loop
load, the serving knobs searched, and the verdict judged on the p99's cautious end — here a
target no server can meet, so the run exits 1 naming the p99 it measured."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from tests.conftest import fast_overrides

from zenopt.core.config import load_config
from zenopt.flow import run_pipeline
from zenopt.flow.serve import serving_check

pytestmark = pytest.mark.slow


def test_an_unmeetable_p99_fails_the_run_with_the_measured_p99(tmp_path: Path) -> None:
    config = load_config(
        None,
        fast_overrides(
            "data.source=iris",
            "model.name=mlp",
            "requirements.serve_p99_ms=0.01",  # 10 µs through HTTP: impossible
            "requirements.serve_rate=100",
            "serve.requests=50",
            "serve.budget_s=1",
            "serve.max_batch=[1, 8]",
            "serve.max_delay_us=[0]",
            epochs=3,
        ),
    )
    outcome = run_pipeline(config, tmp_path / "run", console=Console(quiet=True), quiet=True)
    assert outcome.exit_code == 1
    manifest = outcome.manifest
    assert manifest["verdict"]["missed"] == ["serve_p99_ms"]
    (check,) = [c for c in manifest["requirements"] if c["name"] == "serve_p99_ms"]
    serve = manifest["serve"]
    at = serve["at_rate"]
    assert check["measured"] == at["p99_ms"] > 0.01 and check["met"] is False
    low, high = at["p99_interval_ms"]
    assert low <= at["p99_ms"] and high is None  # 50 requests cannot bound a p99 from above
    assert "upper end is unbounded with 50 answered requests" in check["detail"]
    assert at["answered"] == 50 and not at["errors"]
    assert at["offered_rps"] == 100
    # where the time went: medians of the responses' Server-Timing headers, inside what the
    # client measured for the same requests
    us = at["server_us"]
    assert set(us) == {"parse", "queue", "run", "reply", "app", "own"}
    assert us["app"] >= max(us["parse"], us["run"], us["reply"], us["own"]) > 0
    assert us["app"] < at["p50_ms"] * 1000
    assert serve["trials"] and serve["chosen"]["max_batch"] in (1, 8)
    assert [p["offered_rps"] for p in serve["curve"]] == [50, 100]  # stops at the miss
    assert serve["max_rate_met"] is None and serve["saturation_rps"] > 0
    assert isinstance(serve["saturated"], bool)  # (50 requests: too few to call it either way)
    # zenopt serve (and its Triton export) take the chosen knobs unless told otherwise
    from typer.testing import CliRunner

    from zenopt.cli.app import app

    out = tmp_path / "triton"
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "run"), "--export", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "mlp" / "config.pbtxt").read_text()
    assert f"max_batch_size: {serve['chosen']['max_batch']}\n" in text
    assert "max_queue_delay_microseconds: 0\n" in text


def test_the_check_is_met_on_the_cautious_end_only() -> None:
    def result(high: float | None, errors: dict[str, int]) -> dict[str, object]:
        at = {"p99_ms": 4.0, "p99_interval_ms": [3.5, high], "answered": 2000, "errors": errors}
        met = not errors and high is not None and high <= 5.0
        chosen = {"max_batch": 8, "max_delay_us": 0, "workers": 1, "threads": None}
        return {"at_rate": at, "rate": 200, "target_p99_ms": 5.0, "chosen": chosen, "met": met}

    assert serving_check(result(4.8, {})).met
    missed = serving_check(result(5.2, {}))
    assert not missed.met and missed.measured == 4.0 and "upper end, 5.2" in missed.detail
    failed = serving_check(result(4.8, {"503": 3}))
    assert not failed.met and "3 requests failed" in failed.detail
    unbounded = serving_check(result(None, {}))
    assert not unbounded.met and unbounded.interval is None
