"""How reports print numbers: thousands separators for counts, 4 significant digits otherwise."""

from __future__ import annotations

from typing import Any

__all__ = ["format_value"]


def format_value(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 10 ** (digits - 1):  # large: whole numbers with separators
            return f"{value:,.0f}"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.{digits}g}"
    return str(value)
