"""Side-by-side timing: two models measured in alternating rounds in one process.

Each round times the candidate and then the baseline (their order alternating between rounds)
at the latency batch and at the throughput batch; a round yields one median per model and
batch. Machine noise that drifts over seconds hits both models alike, and the spread between
rounds is what the confidence intervals of the acceptance rule are built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zenopt.profile.hostlock import timing_section
from zenopt.profile.latency import make_batch, measure_calls
from zenopt.profile.trace import span
from zenopt.runtime.predictor import create_predictor

__all__ = ["RoundTimes", "time_in_rounds"]


@dataclass(frozen=True)
class RoundTimes:
    """Per-round medians: latency in ms at the latency batch, samples/s at the throughput batch."""

    latency_ms: list[float]
    throughput: list[float]


def time_in_rounds(
    models: dict[str, tuple[str, Path, int]],
    pool: np.ndarray,
    latency_batch: int,
    throughput_batch: int,
    rounds: int,
    repeats: int = 100,
    throughput_repeats: int = 10,
    warmup: int = 10,
) -> dict[str, RoundTimes]:
    """Time each of ``models`` (name → (runtime, path, threads)) in ``rounds`` alternating
    rounds; every model is loaded once and warmed up before the first round. The host lock is
    held exclusively throughout: no round runs beside training or another timing."""
    predictors = {}
    with timing_section():
        try:
            for name, (runtime, path, threads) in models.items():
                predictor = create_predictor(runtime)
                predictor.load(path, threads)
                predictors[name] = predictor
            x_lat = make_batch(pool, latency_batch)
            x_tp = make_batch(pool, throughput_batch)
            for name, predictor in predictors.items():
                measure_calls(predictor.predict, x_lat, warmup, 1, f"warm-up {name}")
                measure_calls(predictor.predict, x_tp, max(1, warmup // 5), 1, f"warm-up {name}")
            out = {name: RoundTimes([], []) for name in predictors}
            names = list(predictors)
            for r in range(rounds):
                with span(f"round {r + 1}"):
                    for name in names if r % 2 == 0 else names[::-1]:
                        predict = predictors[name].predict
                        lat = measure_calls(predict, x_lat, 2, repeats, f"{name} b{latency_batch}")
                        tp = measure_calls(
                            predict, x_tp, 1, throughput_repeats, f"{name} b{throughput_batch}"
                        )
                        out[name].latency_ms.append(float(np.median(lat)))
                        out[name].throughput.append(throughput_batch / (float(np.median(tp)) / 1e3))
            return out
        finally:
            for predictor in predictors.values():
                predictor.close()
