"""Frozen result records: what a run measured, in a form that round-trips through JSON.

The report reads what these records wrote into manifest.json, never live models, so a report can
be rebuilt from a run directory alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Self

import numpy as np

__all__ = [
    "BackendProfile",
    "Decision",
    "EpochRecord",
    "LatencyStats",
    "RequirementCheck",
    "ThroughputStats",
    "json_default",
]


def json_default(value: Any) -> Any:
    """``json.dumps``' fallback for NumPy scalars in measured records (an array in a record is
    a mistake, and raises)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class _Record:
    """JSON round trip of a flat record (fields that are plain values or lists of them)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(**data)


@dataclass(frozen=True)
class LatencyStats(_Record):
    """Latency of ``repeats`` timed calls at one batch size, after ``warmup`` untimed calls."""

    batch: int
    warmup: int
    repeats: int
    threads: int
    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    std: float
    min: float
    max: float
    samples_ms: list[float] = field(default_factory=list, repr=False)

    def percentile(self, q: int) -> float:
        return float({50: self.p50, 90: self.p90, 95: self.p95, 99: self.p99}[q])


@dataclass(frozen=True)
class ThroughputStats(_Record):
    """Samples per second at one batch size: the batch divided by the median call time."""

    batch: int
    warmup: int
    repeats: int
    threads: int
    samples_per_s: float
    samples_per_s_min: float
    samples_per_s_max: float


@dataclass(frozen=True)
class BackendProfile:
    """Everything measured for one inference backend."""

    backend: str
    threads: int
    load_ms: float
    latency: dict[int, LatencyStats]
    throughput: dict[int, ThroughputStats]
    peak_rss_mb: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "threads": self.threads,
            "load_ms": self.load_ms,
            "peak_rss_mb": self.peak_rss_mb,
            "latency_ms": {f"b{b}": s.to_dict() for b, s in sorted(self.latency.items())},
            "throughput": {f"b{b}": t.samples_per_s for b, t in sorted(self.throughput.items())},
            "throughput_detail": {f"b{b}": t.to_dict() for b, t in sorted(self.throughput.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackendProfile:
        return cls(
            backend=data["backend"],
            threads=data["threads"],
            load_ms=data["load_ms"],
            peak_rss_mb=data["peak_rss_mb"],
            latency={int(k[1:]): LatencyStats.from_dict(v) for k, v in data["latency_ms"].items()},
            throughput={
                int(k[1:]): ThroughputStats.from_dict(v)
                for k, v in data["throughput_detail"].items()
            },
        )


@dataclass(frozen=True)
class RequirementCheck(_Record):
    """One requirement against its measured value."""

    name: str
    kind: str  # "quality" or "efficiency"
    target: float
    measured: float | None
    met: bool
    unit: str = ""
    detail: str = ""
    interval: list[float] | None = None  # 95% interval of a figure measured over rounds
    noisy: str | None = None  # why the figure cannot be fully trusted, if it cannot


@dataclass(frozen=True)
class Decision(_Record):
    """One of the flow's two "requirements met?" decisions and what the flow did about it."""

    loop: str  # "quality" or "efficiency"
    met: bool
    missed: list[str]
    action: str

    @classmethod
    def from_checks(cls, loop: str, checks: list[RequirementCheck], action_missed: str) -> Decision:
        """Met when every check is; ``action_missed`` says what the flow did otherwise."""
        missed = [c.name for c in checks if not c.met]
        if missed:
            return cls(loop, False, missed, action_missed)
        action = "no targets set" if not checks else "all targets met; nothing to do"
        return cls(loop, True, [], action)


@dataclass(frozen=True)
class EpochRecord(_Record):
    """One training epoch: mean training loss and penalty, validation loss and metric."""

    epoch: int
    train_loss: float
    train_penalty: float
    val_loss: float
    val_metric: float
    lr: float
    seconds: float
