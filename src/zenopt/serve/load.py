"""Open-loop load: requests sent at a fixed (or Poisson) rate whatever the server does, each
timed from the moment it was *scheduled*, so a server that falls behind shows its queueing in
the latencies instead of slowing the client down (coordinated omission, which closed-loop
tools such as wrk and locust do not correct).

1. The send times are drawn up front: ``i / rate``, or exponential gaps for Poisson arrivals.
2. One asyncio loop (uvloop) sleeps until each send time and starts the request as a task of
   its own, over a pool of keep-alive connections (``client.py``: a tenth of httpx's CPU per
   request); if the loop is late, the request goes at once and its lateness counts.
3. A request's latency is its completion minus its scheduled time; failures are counted by
   status (or exception), never dropped silently.
4. The generator's own CPU use is reported: on a small machine it competes with the server.
5. Where the server says where a request's time went (a ``Server-Timing`` header, as
   ``zenopt serve`` does), the medians of its parts over the answered requests are kept.

Percentiles come with a distribution-free 95% interval (order statistics of the binomial).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from zenopt.serve.client import PostClient

__all__ = ["LoadResult", "run_load", "server_timing"]


@dataclass(frozen=True)
class LoadResult:
    rate: float  # offered requests per second
    sent: int
    latencies_ms: np.ndarray  # of the answered requests (status 200), from their scheduled time
    errors: dict[str, int] = field(default_factory=dict)  # status or exception name -> count
    duration_s: float = 0.0  # first scheduled send to last completion
    client_cpu: float = 0.0  # the generator's CPU seconds per wall second (1.0 = one core)
    server_ms: dict[str, float] = field(default_factory=dict)  # Server-Timing part -> median

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def achieved_rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.ok else float("inf")

    def interval(self, q: float, confidence: float = 0.95) -> tuple[float, float]:
        """A distribution-free interval for the q-th percentile: the order statistics whose
        ranks bound it with the given confidence (binomial); inf when there are too few."""
        from scipy.stats import binom

        n = self.ok
        if n == 0:
            return float("inf"), float("inf")
        ordered = np.sort(self.latencies_ms)
        alpha = 1 - confidence
        low = int(binom.ppf(alpha / 2, n, q / 100))
        high = int(binom.ppf(1 - alpha / 2, n, q / 100))
        return float(ordered[max(low - 1, 0)]), float(ordered[high]) if high < n else float("inf")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "offered_rps": self.rate,
            "sent": self.sent,
            "answered": self.ok,
            "errors": dict(self.errors),
            "achieved_rps": self.achieved_rps,
            "client_cpu": self.client_cpu,
            "server_us": {name: ms * 1e3 for name, ms in self.server_ms.items()},
        }
        for q in (50, 95, 99):  # an end that too few requests cannot bound is null
            low, high = self.interval(q)
            out[f"p{q}_ms"] = self.percentile(q) if self.ok else None
            out[f"p{q}_interval_ms"] = [_finite(low), _finite(high)]
        return out


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def _schedule(rate: float, count: int, arrivals: str, seed: int) -> np.ndarray:
    if arrivals == "poisson":
        gaps = np.random.default_rng(seed).exponential(1.0 / rate, count)
        times: np.ndarray = np.cumsum(gaps) - gaps[0]
        return times
    return np.arange(count) / rate


Outcome = tuple[str, float, str]  # status, latency in ms, the Server-Timing header ("")


async def _one(client: PostClient, due: float) -> Outcome:
    answer = await client.post()  # a refused connection, a timeout: a status, not raised
    return answer.status, (answer.done - due) * 1000, answer.timing


_METRIC = re.compile(r'(?:[^,"]|"(?:[^"\\]|\\.)*")+')  # a metric: commas in quotes kept


def server_timing(header: str) -> dict[str, float]:
    """A Server-Timing header's durations (ms) by name: ``parse;dur=0.012, run;dur=0.05``
    (parameter names in any case; quoted descriptions may hold commas)."""
    out: dict[str, float] = {}
    for metric in _METRIC.findall(header):
        name, _, params = metric.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "dur" and name.strip():
                with contextlib.suppress(ValueError):  # not a number: left out
                    out[name.strip()] = float(value.strip().strip('"'))
    return out


def _medians(headers: list[str]) -> dict[str, float]:
    """Each Server-Timing part's median (ms) over the responses that have it; with ``app``,
    ``queue`` and ``run``, also ``own``, request by request: the app's time less its waiting
    and its runtime call, the server's own cost."""
    parts: dict[str, list[float]] = {}
    for header in headers:
        timing = server_timing(header)
        if {"app", "queue", "run"} <= timing.keys():
            timing["own"] = timing["app"] - timing["queue"] - timing["run"]
        for name, ms in timing.items():
            parts.setdefault(name, []).append(ms)
    return {name: float(np.median(values)) for name, values in parts.items()}


async def _open_loop(client: PostClient, times: np.ndarray) -> tuple[list[Outcome], float]:
    start = time.perf_counter() + 0.05
    tasks = []
    try:
        for at in times:
            due = start + float(at)
            delay = due - time.perf_counter()
            if delay > 0:  # timers wake within a millisecond; a late send counts as latency
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(_one(client, due)))
        results = await asyncio.gather(*tasks)
    finally:
        client.close()
    return results, time.perf_counter() - start


def run_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    rate: float,
    count: int,
    arrivals: Literal["constant", "poisson"] = "constant",
    timeout_s: float = 30.0,
) -> LoadResult:
    """POST ``body`` to ``url`` ``count`` times at ``rate`` per second, open loop."""
    import psutil
    import uvloop

    times = _schedule(rate, count, arrivals, seed=0)
    client = PostClient(url, body, headers, timeout_s)
    process = psutil.Process()
    cpu = sum(process.cpu_times()[:2])
    wall = time.perf_counter()

    def generate() -> tuple[list[Outcome], float]:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_open_loop(client, times))

    # a thread of its own: the caller may have an event loop running (a notebook, Playwright)
    with ThreadPoolExecutor(1, thread_name_prefix="zenopt-load") as thread:
        results, duration = thread.submit(generate).result()
    client_cpu = (sum(process.cpu_times()[:2]) - cpu) / (time.perf_counter() - wall)
    answered = [(ms, timing) for status, ms, timing in results if status == "200"]
    errors: dict[str, int] = {}
    for status, _, _ in results:
        if status != "200":
            errors[status] = errors.get(status, 0) + 1
    latencies = np.asarray([ms for ms, _ in answered])
    server = _medians([timing for _, timing in answered if timing])
    return LoadResult(rate, count, latencies, errors, duration, client_cpu, server)
