"""A plan is no faster and no smaller than a measured plan it equals in every step that decides
speed and size, when none of its layers is narrower: such a plan misses what that plan missed.

Pruning ratios round to SIMD-friendly channel counts, so different ratios often give the same
network (ratios 0.4 and 0.5 both leave a 32-channel conv 16 channels when rounded to 8); the
search then rejects the second before training it, as it rejects a plan drawn twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zenopt.evaluate.requirements import EFFICIENCY_TARGETS

__all__ = ["dominating_record", "layer_widths", "speed_form"]

# Steps that change only weights, and the pruning step's settings, whose effect on speed and
# size is all in the widths it leaves (compared layer by layer instead).
_WEIGHTS_ONLY = {"distill"}


def speed_form(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plan's steps as far as speed and size go, apart from the pruned widths."""
    return [
        {"method": "prune"} if step["method"] == "prune" else step
        for step in steps
        if step["method"] not in _WEIGHTS_ONLY
    ]


def layer_widths(notes: Sequence[dict[str, Any] | None]) -> dict[str, int]:
    """Each pruned layer's width after pruning (layers left whole are absent)."""
    widths: dict[str, int] = {}
    for note in notes:
        for layer, (_, after) in ((note or {}).get("channels") or {}).items():
            widths[layer] = int(after)
    return widths


def _no_narrower(widths: dict[str, int], than: dict[str, int]) -> bool:
    """Every layer at least as wide as in ``than``; an absent layer is whole, the widest."""
    for layer in widths.keys() | than.keys():
        if layer not in widths:
            continue  # whole here: no narrower than anything
        if layer not in than or widths[layer] < than[layer]:
            return False
    return True


def dominating_record(
    steps: list[dict[str, Any]], widths: dict[str, int], records: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]] | None:
    """A measured record (and the efficiency targets it missed) whose plan equals ``steps`` in
    speed form and whose widths are nowhere wider than ``widths``; None if there is none."""
    form = speed_form(steps)
    for record in records:
        missed = [name for name in record.get("missed") or [] if name in EFFICIENCY_TARGETS]
        if not missed or "acceptance" not in record or speed_form(record["steps"]) != form:
            continue
        if _no_narrower(widths, layer_widths(record.get("notes") or [])):
            return record, missed
    return None
