"""The search's state on disk, rebuilt from the trials' ``candidate.json`` files after every
candidate: every candidate in one table, the Pareto front (validation quality vs latency vs
size), the chosen plan (the best feasible one by ``objective``) and, when none is feasible, the
closest candidates with the requirements each misses. Everything here is on the validation
split: the test split confirms the chosen plan after the search. Written atomically, so an
interrupted search loses nothing that was measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zenopt.compress.pareto import pareto_front
from zenopt.core.config import RunConfig
from zenopt.core.rundir import atomic_write_text

__all__ = [
    "BEST_FILE",
    "FRONT_FILE",
    "candidate_row",
    "choose",
    "closest",
    "read_records",
    "shortfall",
    "summarize",
    "write_summary",
]

FRONT_FILE = "front.json"
BEST_FILE = "best.json"


def _speed(record: dict[str, Any], config: RunConfig) -> tuple[float | None, float | None]:
    req = config.requirements
    profile = record.get("profile")
    if not profile:
        return None, None
    lat = profile["latency_ms"].get(f"b{req.latency_batch}", {}).get(f"p{req.latency_percentile}")
    return lat, profile["throughput"].get(f"b{req.throughput_batch}")


def shortfall(record: dict[str, Any]) -> float:
    """How far a candidate is from feasible: the relative miss of each requirement it misses,
    and of the quality budget, summed (0 for a feasible candidate)."""
    total = 0.0
    for check in record.get("requirements", []):
        if not check["met"]:
            measured, target = check["measured"], check["target"]
            total += 1.0 if measured is None or target == 0 else abs(measured - target) / target
    drop, budget = record.get("quality_drop"), record.get("quality_budget")
    if drop is not None and budget is not None and drop > budget:
        total += (drop - budget) / budget if budget > 0 else 1.0
    return total


def candidate_row(record: dict[str, Any], config: RunConfig) -> dict[str, Any]:
    """A candidate in one line: its plan, measurements, ratios and verdict."""
    latency, throughput = _speed(record, config)
    metric = record.get("primary_metric")
    validation = record.get("validation", {})
    drop = record.get("drop", {}).get("validation", {})
    return {
        "trial": record["trial"],
        "plan": record["plan"],
        "runtime": record.get("runtime"),
        "threads": record.get("threads"),
        "metric": metric,
        "validation": validation.get(metric) if metric else None,
        "validation_ci": validation.get(f"{metric}_ci95") if metric else None,
        "test": record.get("test", {}).get(metric) if metric else None,  # the chosen, once
        "quality_drop": record.get("quality_drop"),
        "drop_ci": drop.get("interval"),
        "fixed_broken": [drop["fixed"], drop["broken"]] if "fixed" in drop else None,
        "mcnemar_p": drop.get("mcnemar_p"),
        "latency_ms": latency,
        "throughput": throughput,
        "size_bytes": record.get("size_bytes", record.get("precheck_size_bytes")),
        "vs_torch_fp32": record.get("vs_torch_fp32"),
        "speed_ci": _speed_intervals(record),
        "accepted": record.get("acceptance", {}).get("accepted", False),
        "reasons": record.get("acceptance", {}).get("reasons", [])
        + record.get("rejected_before_training", [])
        + record.get("rejected", [])
        + ([record["error"]] if record.get("error") else []),
        "error": record.get("error"),
        "fidelity": (record.get("fidelity") or {}).get("agreement"),
        "missed": record.get("missed", []),
        "feasible": bool(record.get("feasible")),
        "shortfall": shortfall(record),
        "rejected_before_training": bool(record.get("rejected_before_training")),
        "free": bool(record.get("free")),  # a repeat or an untrained rejection, not counted
        "same_as": record.get("same_as"),
        "folder": f"trial-{record['trial']:05d}",
        "machine": (record.get("machine") or {}).get("hostname_hash"),
        "seconds": record.get("seconds"),
    }


def _measured(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in rows
        if r["same_as"] is None
        and not r["rejected_before_training"]
        and r["validation"] is not None
    ]


def _speed_intervals(record: dict[str, Any]) -> dict[str, list[float]]:
    """The candidate's latency and throughput intervals from the alternating rounds."""
    out = {}
    for speed in record.get("speed_vs_baseline", []):
        kind = "throughput" if speed["higher_is_better"] else "latency"
        out[kind] = [speed["candidate"]["low"], speed["candidate"]["high"]]
    return out


def _overlap(a: list[float] | None, b: list[float] | None) -> bool:
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


def choose(rows: list[dict[str, Any]], objective: str, higher: bool) -> dict[str, Any] | None:
    """The best feasible candidate by ``objective``. Speed is measured with noise: every
    feasible candidate whose speed interval overlaps the fastest one's is as fast, and among
    those the best validation quality wins, then the smaller model. Size is exact."""
    feasible = [r for r in _measured(rows) if r["feasible"]]
    if not feasible:
        return None

    def key(r: dict[str, Any]) -> tuple[float, float, int]:
        speed = {
            "latency": r["latency_ms"],
            "throughput": -r["throughput"],
            "size": r["size_bytes"],
        }[objective]
        return (speed, -r["validation"] if higher else r["validation"], r["trial"])

    best = min(feasible, key=key)
    if objective == "size":
        return best
    ties = [
        r
        for r in feasible
        if _overlap(r["speed_ci"].get(objective), best["speed_ci"].get(objective))
    ]

    def quality(r: dict[str, Any]) -> tuple[float, int, int]:
        value = r["validation"]
        return (value if higher else -value, -r["size_bytes"], -r["trial"])

    return max(ties, key=quality) if ties else best


def closest(rows: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` measured candidates nearest to feasible: fewest misses, then smallest miss."""

    def key(r: dict[str, Any]) -> tuple[int, float, int]:
        misses = len(r["missed"]) + (0 if r["accepted"] else 1)
        return (misses, r["shortfall"], r["trial"])

    return sorted(_measured(rows), key=key)[:n]


def summarize(records: list[dict[str, Any]], config: RunConfig, higher: bool) -> dict[str, Any]:
    search = config.compress.search
    rows = [candidate_row(r, config) for r in sorted(records, key=lambda r: r["trial"])]
    measured = _measured(rows)
    points = [(r["validation"], r["latency_ms"], r["size_bytes"]) for r in measured]
    front = [measured[i]["trial"] for i in pareto_front(points, (higher, False, False))]
    chosen = choose(rows, search.objective, higher)
    return {
        "objective": search.objective,
        "stop": search.stop,
        "candidates": rows,
        "front": front,
        "chosen": chosen,
        "closest": [] if chosen else closest(rows),
        "counts": {
            "trials": len(rows),
            "counted": sum(not r["free"] for r in rows),
            "measured": len(measured),
            "rejected_before_training": sum(r["rejected_before_training"] for r in rows),
            "repeated_plans": sum(r["same_as"] is not None for r in rows),
            "failed": sum(bool(r["error"]) for r in rows),
            "rejected_fidelity": sum(
                r["fidelity"] is not None and not r["accepted"] and r["validation"] is None
                for r in rows
            ),
            "accepted": sum(r["accepted"] for r in measured),
            "feasible": sum(r["feasible"] for r in measured),
        },
    }


def read_records(folder: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(folder.glob("trial-*/candidate.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError:  # written atomically; a stray partial file is skipped
            continue
    return records


def write_summary(folder: Path, config: RunConfig, higher: bool = True) -> dict[str, Any]:
    """Rebuild the summary from the trials on disk and write ``front.json`` and ``best.json``;
    ``higher``: the primary metric is better when higher (accuracy; not MSE)."""
    summary = summarize(read_records(folder), config, higher)
    atomic_write_text(folder / FRONT_FILE, json.dumps(summary, indent=2) + "\n")
    atomic_write_text(folder / BEST_FILE, json.dumps(summary["chosen"], indent=2) + "\n")
    return summary
