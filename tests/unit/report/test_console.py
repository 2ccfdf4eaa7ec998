from __future__ import annotations

import re
from typing import Any

from rich.console import Console

from zenopt.report.console import print_search

PLAN = (
    "prune(ratio=0.5, importance=taylor) -> distill(temperature=2.0, epochs=20) -> "
    "quantize(mode=dynamic) -> runtime(name=onnxruntime)"
)


def _row(trial: int, plan: str, missed: list[str]) -> dict[str, Any]:
    return {
        "trial": trial,
        "plan": plan,
        "validation": 0.98,
        "quality_drop": 0.0028,
        "vs_torch_fp32": {"latency_b1_p50": 10.4, "throughput_b256": 12.98, "size": 14.6},
        "feasible": False,
        "accepted": True,
        "missed": missed,
    }


def test_closest_plans_are_printed_whole_on_a_narrow_terminal() -> None:
    rows = [_row(2, PLAN, ["min_throughput_speedup"]), _row(3, "prune(ratio=0.4)", [])]
    search = {
        "chosen": None,
        "candidates": rows,
        "front": [],
        "closest": rows,
        "metric": "accuracy",
    }
    console = Console(width=80, record=True, color_system=None)
    print_search(search, console)
    printed = console.export_text()
    lines = [line.rstrip() for line in printed.splitlines()]
    assert f"  trial 2: {PLAN}" in lines and "  trial 3: prune(ratio=0.4)" in lines  # one line
    text = re.sub(r"\s+", " ", printed)
    assert "min_throughput_speedup" in text and "…" not in text  # nor is the verdict cut


def test_each_trial_whose_worker_died_is_one_line() -> None:
    from tests.unit.report.test_html import DEATHS

    from zenopt.report.console import print_deaths, print_run_summary

    console = Console(width=80, record=True, color_system=None)
    print_run_summary({"tune": {"deaths": DEATHS}}, console)
    print_deaths(DEATHS[:1], "search", console)
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    assert (
        "quality loop: trial 3 (node-a:4121) died: silent 31 s after its last heartbeat, "
        "failed at 12:01:07 UTC, re-run as trial 9 by node-b:77 (complete)"
    ) in lines
    assert (
        "quality loop: trial 5 (node-a:4121) was interrupted: no heartbeat recorded, failed at "
        "12:02:30 UTC, 30 s after its start, not re-run (tune.retries spent)"
    ) in lines
    assert lines[-1].startswith("efficiency search: trial 3 (node-a:4121) died: silent 31 s")
