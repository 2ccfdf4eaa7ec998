"""Before/after: the baseline's operator profile against the chosen model's, in one runtime."""

from __future__ import annotations

from typing import Any

__all__ = ["compare_operators"]


def compare_operators(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Per operator type and per category: time per call before and after, and the ratio.

    ``before``/``after`` are ``onnx_operator_profile``/``torch_operator_profile`` results at the
    same batch. An operator that exists only on one side (a Conv that became a QLinearConv, a
    QuantizeLinear that was added) shows with 0 on the other side.
    """
    old = {row["op"]: row for row in before["ops"]}
    new = {row["op"]: row for row in after["ops"]}
    rows = []
    for op in sorted(set(old) | set(new), key=lambda o: -max(_us(old, o), _us(new, o))):
        was, now = _us(old, op), _us(new, op)
        rows.append(
            {
                "op": op,
                "category": (new.get(op) or old[op])["category"],
                "before_us": was,
                "after_us": now,
                "speedup": was / now if was and now else None,
                "change": _change(was, now),
            }
        )
    categories = sorted(set(before["by_category"]) | set(after["by_category"]))
    by_category = {
        c: {
            "before_us": before["by_category"].get(c, 0.0),
            "after_us": after["by_category"].get(c, 0.0),
        }
        for c in categories
    }
    kernel_after = after["kernel_us_per_call"] or 1.0
    quantize = after["by_category"].get("quantize/dequantize", 0.0)
    reorder = after["by_category"].get("layout reorder", 0.0)
    return {
        "batch": after["batch"],
        "runtime": after["runtime"],
        "threads": {"before": before.get("threads"), "after": after.get("threads")},
        # "stayed in float" means something only when the model was quantized
        "quantized": "int8 compute" in after["by_category"],
        "ops": rows,
        "by_category": by_category,
        "kernel_speedup": before["kernel_us_per_call"] / kernel_after,
        "wall_speedup": before["wall_us_per_call"] / (after["wall_us_per_call"] or 1.0),
        "quantize_share": quantize / kernel_after,
        "reorder_share": reorder / kernel_after,
        "stayed_float": after["float_compute_nodes"],
        "float_share": after["by_category"].get("float compute", 0.0) / kernel_after,
    }


def _us(table: dict[str, dict[str, Any]], op: str) -> float:
    row = table.get(op)
    return float(row["us_per_call"]) if row else 0.0


def _change(was: float, now: float) -> str:
    if not was:
        return "added"
    if not now:
        return "removed"
    ratio = was / now
    if ratio >= 1.1:
        return "faster"
    if ratio <= 1 / 1.1:
        return "slower"
    return "same"
