"""Throughput against batch size and speed against thread count, for one deployed model.

Every point is its own measurement: a fresh predictor at that thread count, ``warmup`` untimed
calls, then timed calls (``repeats`` at batch 1, where tails need many; ``throughput_repeats``
at larger batches); the median call gives samples/s, and the fastest and slowest call its
spread. The warm-up and repeat counts are recorded with every point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zenopt.profile.hostlock import timing_section
from zenopt.profile.latency import make_batch, measure_calls
from zenopt.runtime.predictor import create_predictor

__all__ = ["batch_ladder", "batch_scaling", "thread_ladder", "thread_scaling"]


def batch_ladder(largest: int) -> list[int]:
    """1, 2, 4, … up to ``largest`` (``largest`` itself included)."""
    sizes, b = [], 1
    while b < largest:
        sizes.append(b)
        b *= 2
    return [*sizes, largest]


def thread_ladder(cores: int) -> list[int]:
    """1, 2, 4, … up to ``cores`` (``cores`` itself included)."""
    return batch_ladder(max(1, cores))


def _point(samples: np.ndarray, batch: int, warmup: int) -> dict[str, Any]:
    median = float(np.median(samples))
    return {
        "batch": batch,
        "warmup": warmup,
        "repeats": int(samples.size),
        "p50_ms": median,
        "p95_ms": float(np.percentile(samples, 95)),
        "samples_per_s": batch / (median / 1e3),
        "samples_per_s_min": batch / (float(samples.max()) / 1e3),
        "samples_per_s_max": batch / (float(samples.min()) / 1e3),
    }


def batch_scaling(
    runtime: str,
    path: Path,
    pool: np.ndarray,
    batches: list[int],
    threads: int,
    warmup: int,
    repeats: int,
    throughput_repeats: int,
) -> list[dict[str, Any]]:
    """Samples/s and call time at each batch size, with one predictor at ``threads``; the
    host lock is held exclusively for the whole ladder."""
    with timing_section():
        predictor = create_predictor(runtime)
        predictor.load(path, threads)
        try:
            points = []
            for batch in batches:
                n = repeats if batch == 1 else throughput_repeats
                x = make_batch(pool, batch)
                label = f"{predictor.name} b{batch} t{threads}"
                samples = measure_calls(predictor.predict, x, warmup, n, label)
                points.append({**_point(samples, batch, warmup), "threads": threads})
            return points
        finally:
            predictor.close()


def thread_scaling(
    runtime: str,
    path: Path,
    pool: np.ndarray,
    threads: list[int],
    batches: tuple[int, int],
    warmup: int,
    repeats: tuple[int, int],
) -> list[dict[str, Any]]:
    """Latency at ``batches[0]`` and throughput at ``batches[1]`` for each thread count, each
    with a predictor loaded at that count; ``speedup`` is against the 1-thread point. The host
    lock is held exclusively for the whole ladder."""
    points: list[dict[str, Any]] = []
    with timing_section():
        for n_threads in threads:
            predictor = create_predictor(runtime)
            predictor.load(path, n_threads)
            try:
                row: dict[str, Any] = {"threads": n_threads}
                for key, batch, n in (
                    ("latency", batches[0], repeats[0]),
                    ("throughput", batches[1], repeats[1]),
                ):
                    x = make_batch(pool, batch)
                    label = f"{predictor.name} b{batch} t{n_threads}"
                    samples = measure_calls(predictor.predict, x, warmup, n, label)
                    row[key] = _point(samples, batch, warmup)
                points.append(row)
            finally:
                predictor.close()
    first = points[0]
    for row in points:
        row["latency_speedup"] = first["latency"]["p50_ms"] / row["latency"]["p50_ms"]
        row["throughput_speedup"] = (
            row["throughput"]["samples_per_s"] / first["throughput"]["samples_per_s"]
        )
        row["efficiency"] = row["throughput_speedup"] / (row["threads"] / first["threads"])
    return points
