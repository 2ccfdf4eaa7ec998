"""Profiling: latency and throughput harness, cost (params, FLOPs, bytes), memory, machine."""

from zenopt.profile.cost import count_flops, count_params, file_sizes
from zenopt.profile.latency import measure_calls, profile_backend, summarize_latency
from zenopt.profile.machine import default_threads, fingerprint, peak_rss_mb

__all__ = [
    "count_flops",
    "count_params",
    "default_threads",
    "file_sizes",
    "fingerprint",
    "measure_calls",
    "peak_rss_mb",
    "profile_backend",
    "summarize_latency",
]
