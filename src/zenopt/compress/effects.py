"""A step that changes nothing is not applied silently: it is named "no effect" and its plan
is refused before any training. Pruning ratios round to SIMD-friendly channel counts
(``round_to``: 16 on AVX-512, 8 on AVX2), so a small ratio can remove no channel at all; a
quantization whose operators are all kept in float computes exactly what FP32 computes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["no_effect"]


def no_effect(notes: Sequence[dict[str, Any] | None]) -> list[str]:
    """One line per step of a plan (from its notes) that changed nothing."""
    reasons = []
    for note in notes:
        if not note:
            continue
        if "channels" in note and not note["channels"]:
            reasons.append(
                f"{note['step']}: no effect: no channel removed at round_to={note['round_to']} "
                "(give a larger ratio or a smaller round_to)"
            )
        if note.get("quantized_ops") == 0:
            reasons.append(
                f"{note['step']}: no effect: every compute operator stayed in float "
                f"({note.get('float_ops', 0)} kept; check op_types and keep_float)"
            )
    return reasons
