"""The server's Prometheus metrics, on a registry of its own (no global state).

With ``--workers`` above 1, every worker process writes its values to files in one folder
(prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``) and ``/metrics`` adds
them up, so a scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ServerMetrics"]

# Seconds: from 100 µs (a small model's whole request) to 10 s (the default timeout).
_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
_ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class ServerMetrics:
    """Requests by endpoint and status; end-to-end latency, queue wait and runtime-call
    histograms; rows per runtime call; queue depth and requests in flight."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        registry = None if _multiprocess() else CollectorRegistry()
        kw: dict[str, Any] = {"registry": registry} if registry is not None else {}
        gauge_kw = {**kw, "multiprocess_mode": "livesum"} if _multiprocess() else kw
        self.registry = registry
        self.requests = Counter(
            "zenopt_requests", "HTTP requests answered, by endpoint and status code.",
            ["endpoint", "status"], **kw,
        )  # fmt: skip
        self.latency = Histogram(
            "zenopt_request_duration_seconds",
            "Infer requests: time in the server, from the request's arrival to its response.",
            buckets=_LATENCY_BUCKETS, **kw,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "zenopt_queue_wait_seconds",
            "Infer requests: time waiting in the batcher's queue before their runtime call.",
            buckets=_LATENCY_BUCKETS, **kw,
        )  # fmt: skip
        self.inference = Histogram(
            "zenopt_inference_duration_seconds", "Runtime calls: time of one call.",
            buckets=_LATENCY_BUCKETS, **kw,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "zenopt_batch_rows", "Runtime calls: rows in one call (requests coalesced).",
            buckets=_ROW_BUCKETS, **kw,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "zenopt_queue_depth", "Infer requests waiting in the queue.", **gauge_kw
        )
        self.in_flight = Gauge(
            "zenopt_requests_in_flight", "Infer requests being handled.", **gauge_kw
        )

    def on_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.inference.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The text format for a scrape, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = self.registry
        if registry is None:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
