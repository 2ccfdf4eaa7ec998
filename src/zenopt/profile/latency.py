"""Latency and throughput of a Predictor, measured call by call after a warm-up.

Each timed call is one ``predict`` on a ready NumPy batch, timed with ``perf_counter_ns``.
Latency is reported as percentiles of those calls; throughput at a batch size is the batch
divided by the median call time (the spread from the fastest and slowest call is kept too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zenopt.core.records import BackendProfile, LatencyStats, ThroughputStats
from zenopt.profile.hostlock import timing_section
from zenopt.profile.machine import peak_rss_mb
from zenopt.profile.trace import span
from zenopt.runtime.predictor import Predictor, create_predictor

__all__ = ["make_batch", "measure_calls", "profile_backend", "summarize_latency"]


def measure_calls(
    predict: Callable[[np.ndarray], object],
    x: np.ndarray,
    warmup: int,
    repeats: int,
    label: str = "",
) -> np.ndarray:
    """Call ``predict(x)`` ``warmup`` times untimed, then ``repeats`` times timed (ms each),
    holding the host lock exclusively (a no-op inside a section that already holds it). The
    block is one trace range, ``time <label>`` (default: the batch size)."""
    samples = np.empty(repeats, dtype=np.float64)
    with timing_section(), span(f"time {label or f'b{len(x)}'}"):
        for _ in range(warmup):
            predict(x)
        for i in range(repeats):
            start = time.perf_counter_ns()
            predict(x)
            samples[i] = (time.perf_counter_ns() - start) / 1e6
    return samples


def summarize_latency(
    samples_ms: np.ndarray, batch: int, warmup: int, threads: int
) -> LatencyStats:
    p50, p90, p95, p99 = np.percentile(samples_ms, [50, 90, 95, 99])
    return LatencyStats(
        batch=batch,
        warmup=warmup,
        repeats=int(samples_ms.size),
        threads=threads,
        p50=float(p50),
        p90=float(p90),
        p95=float(p95),
        p99=float(p99),
        mean=float(samples_ms.mean()),
        std=float(samples_ms.std(ddof=1)) if samples_ms.size > 1 else 0.0,
        min=float(samples_ms.min()),
        max=float(samples_ms.max()),
        samples_ms=[round(float(s), 5) for s in samples_ms],
    )


def summarize_throughput(
    samples_ms: np.ndarray, batch: int, warmup: int, threads: int
) -> ThroughputStats:
    median = float(np.median(samples_ms))
    return ThroughputStats(
        batch=batch,
        warmup=warmup,
        repeats=int(samples_ms.size),
        threads=threads,
        samples_per_s=batch / (median / 1e3),
        samples_per_s_min=batch / (float(samples_ms.max()) / 1e3),
        samples_per_s_max=batch / (float(samples_ms.min()) / 1e3),
    )


def make_batch(pool: np.ndarray, batch: int) -> np.ndarray:
    """A contiguous float32 batch of real samples, repeating the pool when it is too small."""
    reps = -(-batch // pool.shape[0])
    tiled = np.concatenate([pool] * reps, axis=0) if reps > 1 else pool
    return np.ascontiguousarray(tiled[:batch], dtype=np.float32)


def profile_predictor(
    predictor: Predictor,
    pool: np.ndarray,
    batch_sizes: list[int],
    warmup: int,
    repeats: int,
    throughput_repeats: int,
    load_ms: float,
    latency_batches: frozenset[int] = frozenset({1}),
) -> BackendProfile:
    """Measure a loaded predictor at each batch size.

    Batches in ``latency_batches`` (batch 1 and any batch a latency requirement names) get
    ``repeats`` timed calls, since tail percentiles need many; the others get
    ``throughput_repeats``. Every batch size yields both latency statistics and throughput.
    """
    latency: dict[int, LatencyStats] = {}
    throughput: dict[int, ThroughputStats] = {}
    for batch in batch_sizes:
        x = make_batch(pool, batch)
        n = repeats if batch in latency_batches else throughput_repeats
        samples = measure_calls(predictor.predict, x, warmup, n, f"{predictor.name} b{batch}")
        latency[batch] = summarize_latency(samples, batch, warmup, predictor.threads)
        throughput[batch] = summarize_throughput(samples, batch, warmup, predictor.threads)
    return BackendProfile(
        backend=predictor.name,
        threads=predictor.threads,
        load_ms=load_ms,
        latency=latency,
        throughput=throughput,
        peak_rss_mb=peak_rss_mb(),
    )


def profile_backend(
    backend: str,
    path: Path,
    pool: np.ndarray,
    batch_sizes: list[int],
    warmup: int,
    repeats: int,
    throughput_repeats: int,
    threads: int,
    latency_batches: frozenset[int] = frozenset({1}),
) -> BackendProfile:
    """Load the model in ``backend`` (timed) and profile it; the predictor is closed after.
    The host lock is held exclusively from the load to the last call."""
    predictor = create_predictor(backend)
    with timing_section():
        start = time.perf_counter()
        predictor.load(path, threads)
        load_ms = (time.perf_counter() - start) * 1e3
        try:
            return profile_predictor(
                predictor,
                pool,
                batch_sizes,
                warmup,
                repeats,
                throughput_repeats,
                load_ms,
                latency_batches,
            )
        finally:
            predictor.close()
