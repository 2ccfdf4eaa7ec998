"""The Pareto front of measured candidates: those no other candidate beats on every objective.

A candidate ``a`` dominates ``b`` when it is at least as good on every objective and strictly
better on one. Points are sorted lexicographically (best first on each objective) and each is
compared only against the front kept so far: a point later in that order cannot dominate an
earlier one, so one pass finds the front.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["dominates", "pareto_front"]


def _as_min(point: Sequence[float], maximize: Sequence[bool]) -> tuple[float, ...]:
    return tuple(-v if up else v for v, up in zip(point, maximize, strict=True))


def dominates(a: Sequence[float], b: Sequence[float], maximize: Sequence[bool]) -> bool:
    """True when ``a`` is at least as good as ``b`` everywhere and strictly better somewhere."""
    ma, mb = _as_min(a, maximize), _as_min(b, maximize)
    return all(x <= y for x, y in zip(ma, mb, strict=True)) and ma != mb


def pareto_front(points: Sequence[Sequence[float]], maximize: Sequence[bool]) -> list[int]:
    """Indices of the non-dominated ``points`` (in input order). Equal points are all kept."""
    if not points:
        return []
    order = sorted(range(len(points)), key=lambda i: _as_min(points[i], maximize))
    front: list[int] = []
    for i in order:
        if not any(dominates(points[j], points[i], maximize) for j in front):
            front.append(i)
    return sorted(front)
