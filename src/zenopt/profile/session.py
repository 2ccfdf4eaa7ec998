"""One interleaved timing session for the numbers a run reports as its result.

The chosen model and the FP32 baselines are loaded once and timed in rounds; the order of the
models rotates every round, so that a drift in the machine (a neighbour starting, a frequency
change) hits every model alike. Each round times, for every model, a latency percentile over
many calls at the latency batch and the throughput at the throughput batch. A ratio is then
computed per round, from timings a few milliseconds apart, and summarised over rounds: the
median and a 95% Student's t interval of the log-ratios (a ratio's error is multiplicative).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.profile.hostlock import timing_section
from zenopt.profile.latency import make_batch, measure_calls
from zenopt.profile.noise import LoadProbe, LoadReading
from zenopt.profile.trace import span
from zenopt.runtime.predictor import create_predictor

__all__ = ["RoundsInterval", "SessionPlan", "SessionTimes", "log_interval", "time_session"]


@dataclass(frozen=True)
class RoundsInterval:
    """A quantity measured once per round: the median over rounds and a 95% interval."""

    median: float
    low: float
    high: float
    rounds: list[float]

    @property
    def spread(self) -> float:
        """Relative half-width of the interval (0.1 = within ±10% of its centre)."""
        if self.low <= 0 or self.high <= 0:
            return math.inf
        return math.sqrt(self.high / self.low) - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "low": self.low,
            "high": self.high,
            "spread": self.spread,
            "rounds": list(self.rounds),
        }


def log_interval(values: Sequence[float], confidence: float = 0.95) -> RoundsInterval:
    """Median of ``values`` (positive, one per round) and the Student's t interval of the mean
    of their logs, taken back: ``exp(mean(log v) ± t·sd/√n)``. One round gives no interval."""
    from scipy import stats

    data = np.asarray(values, dtype=np.float64)
    if data.size == 0 or np.any(data <= 0):
        raise ValueError("an interval over rounds needs positive values")
    median = float(np.median(data))
    if data.size < 2:
        return RoundsInterval(median, median, median, [float(v) for v in data])
    logs = np.log(data)
    half = float(stats.t.ppf(0.5 + confidence / 2, data.size - 1)) * float(
        logs.std(ddof=1) / math.sqrt(data.size)
    )
    centre = float(logs.mean())
    return RoundsInterval(
        median, math.exp(centre - half), math.exp(centre + half), [float(v) for v in data]
    )


@dataclass(frozen=True)
class SessionPlan:
    """What one session times: batches, the latency percentile, rounds and calls per round."""

    latency_batch: int
    percentile: int
    throughput_batch: int
    rounds: int
    repeats: int  # latency calls per model per round (a tail percentile needs many)
    throughput_repeats: int  # throughput calls per model per round
    warmup: int = 10


@dataclass
class SessionTimes:
    """Per model and round: the latency percentile (ms) and the throughput (samples/s); the
    load on the machine during each round, and the order the models ran in."""

    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    throughput: dict[str, list[float]] = field(default_factory=dict)
    load: list[LoadReading] = field(default_factory=list)
    order: list[list[str]] = field(default_factory=list)


def _round(
    predictors: dict[str, Any], order: list[str], plan: SessionPlan, x: tuple[Any, Any]
) -> dict[str, tuple[float, float]]:
    out = {}
    for name in order:
        predict = predictors[name].predict
        lat = measure_calls(predict, x[0], 2, plan.repeats, f"{name} b{plan.latency_batch}")
        tp = measure_calls(
            predict, x[1], 1, plan.throughput_repeats, f"{name} b{plan.throughput_batch}"
        )
        seconds = float(np.median(tp)) / 1e3
        out[name] = (float(np.percentile(lat, plan.percentile)), plan.throughput_batch / seconds)
    return out


def time_session(
    models: dict[str, tuple[str, Path, int]],
    pool: np.ndarray,
    plan: SessionPlan,
    probe: LoadProbe,
) -> SessionTimes:
    """Time ``models`` (name → (runtime, path, threads)) in ``plan.rounds`` rounds, the order
    rotated every round; every model is loaded once and warmed up before the first round. The
    host lock is held exclusively throughout: no round runs beside training or another
    timing."""
    predictors: dict[str, Any] = {}
    with timing_section():
        try:
            for name, (runtime, path, threads) in models.items():
                predictors[name] = create_predictor(runtime)
                predictors[name].load(path, threads)
            x = (make_batch(pool, plan.latency_batch), make_batch(pool, plan.throughput_batch))
            for name, predictor in predictors.items():
                measure_calls(predictor.predict, x[0], plan.warmup, 1, f"warm-up {name}")
                measure_calls(
                    predictor.predict, x[1], max(1, plan.warmup // 5), 1, f"warm-up {name}"
                )
            names = list(predictors)
            times = SessionTimes({n: [] for n in names}, {n: [] for n in names})
            for r in range(plan.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                probe.mark()
                with span(f"round {r + 1}"):
                    measured = _round(predictors, order, plan, x)
                times.load.append(probe.read())
                times.order.append(order)
                for name, (latency, throughput) in measured.items():
                    times.latency_ms[name].append(latency)
                    times.throughput[name].append(throughput)
            return times
        finally:
            for predictor in predictors.values():
                predictor.close()
