"""The search summary from constructed candidate records: the chosen plan is the best
feasible one by the objective, never an infeasible one; with none feasible, the closest
candidates come with what each misses; the front comes from measured candidates only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zenopt.compress.search_summary import summarize, write_summary
from zenopt.core.config import RunConfig, load_config


def _record(
    trial: int,
    acc: float,
    lat: float,
    tp: float,
    size: int,
    *,
    accepted: bool = True,
    missed: list[str] | None = None,
    requirements: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    missed = missed or []
    return {
        "trial": trial,
        "plan": f"plan-{trial}",
        "runtime": "onnxruntime",
        "threads": 2,
        "primary_metric": "accuracy",
        "quality": {"accuracy": acc},
        "validation": {"accuracy": acc},
        "quality_drop": max(0.0, 0.98 - acc),
        "quality_budget": 0.005,
        "profile": {"latency_ms": {"b1": {"p95": lat}}, "throughput": {"b64": tp}},
        "size_bytes": size,
        "acceptance": {"accepted": accepted, "reasons": [] if accepted else ["slower"]},
        "missed": missed,
        "requirements": requirements or [],
        "feasible": accepted and not missed,
        **extra,
    }


def _config(objective: str = "latency") -> RunConfig:
    return load_config(None, [f"compress.search.objective={objective}"])


def test_the_chosen_plan_is_the_fastest_feasible_one() -> None:
    records = [
        _record(0, 0.98, 0.05, 9000, 300_000, accepted=False),  # fastest, but not accepted
        _record(1, 0.977, 0.08, 8000, 400_000),
        _record(2, 0.976, 0.07, 7000, 500_000),  # fastest feasible
        _record(3, 0.97, 0.06, 9500, 200_000, missed=["min_accuracy"]),  # misses a target
    ]
    summary = summarize(records, _config("latency"), higher=True)
    assert summary["chosen"]["trial"] == 2
    assert summarize(records, _config("throughput"), True)["chosen"]["trial"] == 1
    assert summarize(records, _config("size"), True)["chosen"]["trial"] == 1
    assert summary["closest"] == []
    assert summary["counts"]["feasible"] == 2 and summary["counts"]["accepted"] == 3


def test_none_feasible_names_the_closest_and_what_each_misses() -> None:
    far = [{"name": "min_latency_speedup", "target": 10.0, "measured": 4.0, "met": False}]
    near = [{"name": "min_latency_speedup", "target": 10.0, "measured": 9.0, "met": False}]
    records = [
        _record(0, 0.98, 0.2, 5000, 1_000_000, missed=["min_latency_speedup"], requirements=far),
        _record(1, 0.98, 0.1, 5000, 1_000_000, missed=["min_latency_speedup"], requirements=near),
        _record(2, 0.95, 0.05, 9000, 300_000, accepted=False, missed=["max_quality_drop"]),
        {"trial": 3, "plan": "plan-3", "rejected_before_training": ["min_size_reduction: 1×"]},
    ]
    summary = summarize(records, _config(), higher=True)
    assert summary["chosen"] is None
    assert [r["trial"] for r in summary["closest"]] == [1, 0, 2]
    assert summary["closest"][0]["missed"] == ["min_latency_speedup"]
    assert summary["closest"][0]["shortfall"] < summary["closest"][1]["shortfall"]
    assert summary["counts"]["rejected_before_training"] == 1
    assert 3 not in summary["front"]


def test_front_excludes_repeats_and_untrained_rejections(tmp_path: Path) -> None:
    records = [
        _record(0, 0.98, 0.20, 5000, 1_000_000),
        _record(1, 0.97, 0.10, 8000, 300_000),
        _record(2, 0.96, 0.15, 6000, 400_000),  # dominated by trial 1
        {**_record(1, 0.97, 0.10, 8000, 300_000), "trial": 4, "same_as": 1},
    ]
    for r in records:
        folder = tmp_path / f"trial-{r['trial']:05d}"
        folder.mkdir()
        (folder / "candidate.json").write_text(json.dumps(r))
    summary = write_summary(tmp_path, _config(), higher=True)
    assert summary["front"] == [0, 1]
    assert json.loads((tmp_path / "front.json").read_text())["front"] == [0, 1]
    assert json.loads((tmp_path / "best.json").read_text())["trial"] == 1


def test_plans_as_fast_within_noise_are_decided_by_validation_quality() -> None:
    def timed(record: dict[str, Any], low: float, high: float, val: float) -> dict[str, Any]:
        interval = {"low": low, "mean": (low + high) / 2, "high": high}
        record["speed_vs_baseline"] = [
            {"name": "b1 latency, ms", "candidate": interval, "higher_is_better": False}
        ]
        record["validation"] = {"accuracy": val}
        return record

    records = [
        timed(_record(0, 0.975, 0.080, 9000, 100_000), 0.069, 0.085, val=0.978),  # fastest p95
        timed(_record(1, 0.978, 0.077, 8000, 200_000), 0.060, 0.102, val=0.989),  # overlaps
        timed(_record(2, 0.978, 0.110, 8000, 200_000), 0.090, 0.120, val=0.999),  # slower
    ]
    records[0]["profile"]["latency_ms"]["b1"]["p95"] = 0.070
    chosen = summarize(records, _config("latency"), higher=True)["chosen"]
    assert chosen["trial"] == 1  # as fast as trial 0 within noise, better on validation
    records[1]["speed_vs_baseline"][0]["candidate"] = {"low": 0.09, "mean": 0.1, "high": 0.11}
    assert summarize(records, _config("latency"), higher=True)["chosen"]["trial"] == 0
    # Size is measured exactly: no ties.
    assert summarize(records, _config("size"), higher=True)["chosen"]["trial"] == 0
