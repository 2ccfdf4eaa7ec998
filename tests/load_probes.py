"""A load probe that hands out injected readings, for tests of the noise guard."""

from __future__ import annotations

from zenopt.profile.noise import LoadReading


class FakeProbe:
    """Readings of cores busy elsewhere, handed out in order, one per ``read()``."""

    def __init__(self, busy: list[float]) -> None:
        self.busy = list(busy)
        self.marks = 0

    def mark(self) -> None:
        self.marks += 1

    def read(self) -> LoadReading:
        return LoadReading(0.1, self.busy.pop(0))
