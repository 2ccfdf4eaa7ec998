"""The server's Prometheus metrics, on a registry of its own (no global state).

With ``--workers`` above 1, every worker process writes its values to files in one folder
(prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``) and ``/metrics`` adds
them up, so a scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

__all__ = ["CountRequests", "ServerMetrics"]

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

        def seconds(name: str, documentation: str) -> Any:
            return Histogram(name, documentation, buckets=_LATENCY_BUCKETS, **kw)

        self.latency = seconds(
            "zenopt_request_duration_seconds",
            "Infer requests: time in the server, from the request's arrival to its response.",
        )
        self.queue_wait = seconds(
            "zenopt_queue_wait_seconds",
            "Infer requests: time waiting in the batcher's queue before their runtime call.",
        )
        self.inference = seconds(
            "zenopt_inference_duration_seconds", "Runtime calls: time of one call."
        )
        self.parse = seconds(
            "zenopt_parse_seconds",
            "Infer requests: parsing the body and encoding the inputs for the runtime.",
        )
        self.serialise = seconds(
            "zenopt_serialise_seconds",
            "Infer requests: decoding the runtime's outputs and writing the response body.",
        )
        self.batch_rows = Histogram(
            "zenopt_batch_rows", "Runtime calls: rows in one call (requests coalesced).",
            buckets=_ROW_BUCKETS, **kw,
        )  # fmt: skip
        self.unseen = Counter(
            "zenopt_unseen_categories",
            "Categorical values no training row had (encoded as all zeros), by input column.",
            ["input"], **kw,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "zenopt_queue_depth", "Infer requests waiting in the queue.", **gauge_kw
        )
        self.in_flight = Gauge(
            "zenopt_requests_in_flight", "Infer requests being handled.", **gauge_kw
        )

    def on_unseen(self, column: str, count: int) -> None:
        self.unseen.labels(column).inc(count)

    def on_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.inference.observe(seconds)

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """A scrape in the format the scraper accepts, and its content type."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder

        registry = self.registry
        if registry is None:
            from prometheus_client import multiprocess

            _forget_dead_processes()
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        encoder, content_type = choose_encoder(accept or "")
        return encoder(registry), content_type


def _forget_dead_processes() -> None:
    """Drop the live gauges of worker processes that died (killed, crashed, restarted):
    prometheus-client keeps adding up their last values until told the process is dead."""
    import psutil
    from prometheus_client import multiprocess

    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    for path in folder.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(folder))  # type: ignore[no-untyped-call]


def _endpoint(path: str) -> str:
    if path.endswith("/infer"):
        return "infer"
    if path.startswith("/v2/health"):
        return "health"
    if path == "/metrics":
        return "metrics"
    return "metadata" if path.startswith("/v2") else "other"


class CountRequests:
    """Pure ASGI middleware: every response counted by endpoint and status; infer requests
    timed end to end and counted while in flight."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = _endpoint(scope["path"])
        status = 500  # unless a response starts: the server failed

        async def sent(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        infer = endpoint == "infer"
        if infer:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, sent)
        finally:
            self.metrics.requests.labels(endpoint, str(status)).inc()
            if infer:
                self.metrics.in_flight.dec()
                self.metrics.latency.observe(time.perf_counter() - started)
