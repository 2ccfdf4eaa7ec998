"""The efficiency search when a candidate is not what it should be: one that raises is one
failed trial (the search goes on; only a search whose every candidate failed fails the run),
one whose graph disagrees with its FP32 form is rejected for it, and a plan with a step that
changes nothing is rejected before training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.integration.test_efficiency_search import BASE

import zenopt.compress._base as base
import zenopt.compress.quantize as quantize_module
from zenopt.core.compress_config import Prune
from zenopt.core.config import load_config
from zenopt.core.errors import SearchError
from zenopt.flow import run_pipeline

SEARCH = [*BASE, "compress.search.rounds=8", "compress.search.trials=2"]


def _run(out: Path, *extra: str) -> dict[str, Any]:
    config = load_config(None, [*SEARCH, *extra])
    return run_pipeline(config, out, console=Console(quiet=True), quiet=True).manifest


def _records(run: Path) -> dict[int, dict[str, Any]]:
    return {
        int(p.parent.name.split("-")[1]): json.loads(p.read_text())
        for p in (run / "search").glob("trial-*/candidate.json")
    }


def _failing_prune(monkeypatch: pytest.MonkeyPatch, fails: float | None) -> None:
    """Pruning raises a bare RuntimeError for ratio ``fails`` (None: for every ratio)."""
    real = base._HANDLERS[Prune]

    def prune(config: Prune, state: Any, ctx: Any) -> Any:
        if fails is None or config.ratio == fails:
            raise RuntimeError("injected failure\nsecond line")
        return real(config, state, ctx)

    monkeypatch.setitem(base._HANDLERS, Prune, prune)


@pytest.mark.slow
def test_a_failing_candidate_is_one_failed_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_prune(monkeypatch, 0.6)
    manifest = _run(tmp_path / "run", "compress.search.space.prune_ratio=[0.5, 0.6]")
    records = _records(tmp_path / "run")
    failed = [r for r in records.values() if r.get("error")]
    assert [r["error"] for r in failed] == ["RuntimeError: injected failure"]
    assert "prune(ratio=0.6" in failed[0]["plan"]
    search = manifest["search"]
    assert search["counts"]["failed"] == 1 and search["counts"]["counted"] == 2
    assert manifest["status"] == "complete"
    assert search["chosen"] is not None and "prune(ratio=0.5" in search["chosen"]["plan"]


@pytest.mark.slow
def test_a_search_whose_every_candidate_failed_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _failing_prune(monkeypatch, None)
    with pytest.raises(SearchError, match="every candidate failed") as info:
        _run(tmp_path / "run", "compress.search.space.prune_ratio=[0.5, 0.6]")
    assert "RuntimeError: injected failure" in str(info.value) and "\n" not in str(info.value)
    status = json.loads((tmp_path / "run" / "manifest.json").read_text())["status"]
    assert status == "failed"


@pytest.mark.slow
def test_a_broken_int8_graph_is_rejected_for_its_fidelity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.compress.test_fidelity_and_rounding import _break

    real = quantize_module.quantize_onnx

    def broken(config: Any, src: Path, dst: Path, *args: Any, **kwargs: Any) -> Any:
        chosen = real(config, src, dst, *args, **kwargs)
        dst.write_bytes(_break(dst.read_bytes()))
        return chosen

    monkeypatch.setattr(quantize_module, "quantize_onnx", broken)
    manifest = _run(
        tmp_path / "run",
        "compress.search.space.prune_ratio=[0.5]",
        "compress.search.space.quantize=[static]",
        "compress.search.trials=1",
    )
    (record,) = [r for r in _records(tmp_path / "run").values() if "fidelity" in r]
    assert record["fidelity"]["agreement"] < 0.98
    assert record["rejected"][0].startswith("fidelity: ")
    assert "validation" not in record  # rejected before its quality was measured
    assert manifest["search"]["chosen"] is None
    assert manifest["verdict"]["exit_code"] == 1


@pytest.mark.slow
def test_a_plan_that_changes_nothing_is_rejected_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``round_to: auto`` is the CPU's vector width (8 on AVX2, 16 on AVX-512); given as 128
    here, on any machine, no layer of mnist_cnn (at most 128 wide) can lose a group of 128."""
    import zenopt.compress.structured as structured

    monkeypatch.setattr(structured, "simd_channels", lambda flags: 128)
    manifest = _run(
        tmp_path / "run",
        "compress.search.space.prune_ratio=[0.05]",
        "compress.search.trials=1",
    )
    records = list(_records(tmp_path / "run").values())
    assert records and all(r.get("no_effect") for r in records)
    assert "no effect: no channel removed" in records[0]["rejected_before_training"][0]
    assert manifest["search"]["counts"]["measured"] == 0
