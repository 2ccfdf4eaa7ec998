"""Profiling: latency and throughput harness, cost (params, FLOPs, bytes), memory, machine.

The names below are imported from their modules on first use, so that code needing only
``zenopt.profile.machine`` (``zenopt serve``, the CLI) does not import torch through ``cost``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zenopt.core.lazy import lazy_names

if TYPE_CHECKING:  # for type checkers: the same names, imported eagerly
    from zenopt.profile.cost import count_flops, count_params, file_sizes
    from zenopt.profile.latency import measure_calls, profile_backend, summarize_latency
    from zenopt.profile.machine import default_threads, fingerprint, peak_rss_mb

_WHERE = {
    "count_flops": "cost",
    "count_params": "cost",
    "file_sizes": "cost",
    "measure_calls": "latency",
    "profile_backend": "latency",
    "summarize_latency": "latency",
    "default_threads": "machine",
    "fingerprint": "machine",
    "peak_rss_mb": "machine",
}

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


__getattr__ = lazy_names(__name__, _WHERE)
