"""Is the machine quiet enough to time on? CPU time spent by everything but this run.

A timing taken while other programs use the cores measures the neighbours as much as the
model. The probe reads the system-wide CPU time that was not idle (user, system, interrupts
and, on a virtual machine, steal: time the hypervisor gave to other guests) and subtracts what
this process and its children used; what remains, per second of wall time, is how many cores
were busy elsewhere. pyperf warns when its runs are unstable; zenopt waits, measures again, and
otherwise marks each affected figure ``noisy`` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psutil

__all__ = ["LoadProbe", "LoadReading", "NoiseLimits", "SystemProbe", "wait_until_quiet"]

# Fields of psutil.cpu_times() that are not work: idle and waiting for I/O.
_IDLE = ("idle", "iowait")


@dataclass(frozen=True)
class LoadReading:
    """Cores busy with other work over a stretch of wall time."""

    seconds: float
    busy_elsewhere: float  # cores, averaged over ``seconds``

    def to_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "busy_elsewhere": self.busy_elsewhere}


class LoadProbe(Protocol):
    """``mark()`` starts a stretch; ``read()`` ends it with the cores busy elsewhere."""

    def mark(self) -> None: ...

    def read(self) -> LoadReading: ...


def _system_busy() -> float:
    times = psutil.cpu_times()
    total = sum(times)
    return total - sum(getattr(times, name, 0.0) for name in _IDLE)


def _own_tree() -> float:
    """CPU seconds of this process (all threads) and of its children, alive or reaped."""
    me = psutil.Process()
    own = me.cpu_times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # a child that ended between listing and reading
            continue
        total += times.user + times.system
    return float(total)


class SystemProbe:
    """The real reading, from ``psutil.cpu_times`` (Linux: /proc/stat)."""

    def __init__(self) -> None:
        self._start = (time.monotonic(), _system_busy(), _own_tree())

    def mark(self) -> None:
        self._start = (time.monotonic(), _system_busy(), _own_tree())

    def read(self) -> LoadReading:
        wall0, busy0, own0 = self._start
        wall = max(time.monotonic() - wall0, 1e-6)
        elsewhere = (_system_busy() - busy0) - (_own_tree() - own0)
        return LoadReading(wall, max(0.0, elsewhere / wall))


@dataclass(frozen=True)
class NoiseLimits:
    """When a timing counts as unsteady, and how long to wait for a quiet machine."""

    busy_cores: float = 0.3  # cores busy elsewhere
    spread: float = 0.10  # relative half-width of an interval over rounds
    wait_s: float = 5.0  # pause before measuring again
    retries: int = 2  # measurements again, at most
    window_s: float = 0.5  # how long the quiet check listens

    @classmethod
    def from_bench(cls, bench: object) -> NoiseLimits:
        return cls(
            busy_cores=float(getattr(bench, "noise_busy_cores", cls.busy_cores)),
            spread=float(getattr(bench, "noise_spread", cls.spread)),
            wait_s=float(getattr(bench, "noise_wait_s", cls.wait_s)),
            retries=int(getattr(bench, "noise_retries", cls.retries)),
            window_s=float(getattr(bench, "noise_window_s", cls.window_s)),
        )


def wait_until_quiet(
    probe: LoadProbe, limits: NoiseLimits, sleep: Callable[[float], None] = time.sleep
) -> list[LoadReading]:
    """Listen for ``window_s``; while more than ``busy_cores`` are busy elsewhere, wait
    ``wait_s`` and listen again, ``retries`` times at most. Every reading, the last one the
    state timing starts in. With no retries there is nothing to wait for: no reading (the
    rounds themselves are read)."""
    readings: list[LoadReading] = []
    if limits.retries <= 0:
        return readings
    for attempt in range(limits.retries + 1):
        probe.mark()
        sleep(limits.window_s)
        readings.append(probe.read())
        if readings[-1].busy_elsewhere <= limits.busy_cores or attempt == limits.retries:
            break
        sleep(limits.wait_s)
    return readings
