"""The Pareto front against a brute-force reference: a point is on the front iff no other
point dominates it (checked pairwise, O(n²))."""

from __future__ import annotations

import numpy as np
import pytest

from zenopt.compress.pareto import dominates, pareto_front


def brute_force(points: list[tuple[float, ...]], maximize: tuple[bool, ...]) -> list[int]:
    def better_or_equal(a: float, b: float, up: bool) -> bool:
        return a >= b if up else a <= b

    front = []
    for i, p in enumerate(points):
        dominated = False
        for j, q in enumerate(points):
            if i == j:
                continue
            all_ok = all(better_or_equal(x, y, up) for x, y, up in zip(q, p, maximize, strict=True))
            if all_ok and q != p:
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


@pytest.mark.parametrize("seed", range(20))
def test_front_matches_brute_force_on_random_points(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    # A coarse grid makes ties and exact duplicates common, the cases a sweep gets wrong.
    raw = rng.integers(0, 6, size=(n, 3)).astype(float)
    points = [tuple(map(float, row)) for row in raw]
    maximize = (True, False, False)
    assert pareto_front(points, maximize) == brute_force(points, maximize)


def test_front_of_quality_latency_size_examples() -> None:
    # (accuracy, latency ms, size MB)
    points = [
        (0.98, 0.30, 4.8),  # baseline: best quality
        (0.97, 0.10, 1.2),  # fast and small
        (0.97, 0.12, 1.2),  # dominated by the one above
        (0.95, 0.05, 0.3),  # fastest, smallest
        (0.95, 0.05, 0.3),  # an exact duplicate stays (neither dominates the other)
        (0.90, 0.20, 2.0),  # dominated by several
    ]
    assert pareto_front(points, (True, False, False)) == [0, 1, 3, 4]
    assert dominates(points[1], points[2], (True, False, False))
    assert not dominates(points[3], points[4], (True, False, False))
    assert pareto_front([], (True,)) == []
