"""Instruction counts beside the time ratios: the rows the report and ``zenopt compare`` show.

For each counted model and batch: instructions per inference with their repeat-to-repeat
spread, and against each FP32 baseline the instruction ratio (baseline ÷ model, so above 1 is
fewer instructions) next to the time ratio the run's interleaved session measured for the
deployed model at that batch (latency at the latency batch, throughput at the throughput
batch). The counts are at 1 thread, the times at the run's thread count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["BASELINES", "instruction_compare_rows", "instruction_rows"]

BASELINES = ("torch FP32", "onnxruntime FP32")


def _time_ratio(manifest: dict[str, Any], baseline: str, batch: int) -> dict[str, Any] | None:
    """The session's speed-up of the deployed model over ``baseline`` at ``batch``."""
    figures = (manifest.get("speed") or {}).get("figures") or {}
    req = (manifest.get("config") or {}).get("requirements") or {}
    runtime = baseline.removesuffix(" FP32")
    if batch == req.get("latency_batch", 1):
        return figures.get(f"latency_speedup_vs_{runtime}")
    if batch == req.get("throughput_batch"):
        return figures.get(f"throughput_speedup_vs_{runtime}")
    return None


def instruction_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per counted model and batch (empty when nothing was counted)."""
    counts = ((manifest.get("analysis") or {}).get("instructions") or {}).get("models") or {}
    rows = []
    for label, batches in counts.items():
        for key, count in batches.items():
            batch = int(key.removeprefix("b"))
            ratios = {}
            for base in BASELINES:
                reference = (counts.get(base) or {}).get(key)
                if base == label or reference is None or count["per_inference"] <= 0:
                    continue
                time = _time_ratio(manifest, base, batch) if label == "chosen" else None
                ratios[base] = {
                    "instructions": reference["per_inference"] / count["per_inference"],
                    "time": time,
                }
            rows.append(
                {
                    "model": label,
                    "batch": batch,
                    "per_inference": count["per_inference"],
                    "per_sample": count["per_inference"] / batch,
                    "spread": count["spread"],
                    "ratios": ratios,
                }
            )
    return rows


def instruction_compare_rows(ms: Sequence[dict[str, Any]]) -> list[Any]:
    """``zenopt compare``'s rows: instructions per inference per model and batch, and the
    chosen model's instruction ratio against each baseline."""
    from zenopt.report.compare import make_row

    tables = [{(r["model"], r["batch"]): r for r in instruction_rows(m)} for m in ms]
    keys = sorted({k for t in tables for k in t}, key=lambda k: (k[0] != "chosen", k[0], k[1]))
    rows = []
    for label, batch in keys:
        found = [t.get((label, batch)) for t in tables]
        values = [r["per_inference"] if r else None for r in found]
        rows.append(make_row(f"{label} b{batch} instructions", values, "ratio"))
        for base in BASELINES if label == "chosen" else ():
            ratios = [((r or {}).get("ratios") or {}).get(base) for r in found]
            values = [x["instructions"] if x else None for x in ratios]
            rows.append(make_row(f"chosen b{batch} instruction ratio vs {base}", values, "ratio"))
    return rows
