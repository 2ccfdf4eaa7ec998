"""Open-loop load: requests sent at a fixed (or Poisson) rate whatever the server does, each
timed from the moment it was *scheduled*, so a server that falls behind shows its queueing in
the latencies instead of slowing the client down (coordinated omission, which closed-loop
tools such as wrk and locust do not correct).

1. The send times are drawn up front: ``i / rate``, or exponential gaps for Poisson arrivals.
2. One asyncio loop (uvloop) sleeps until each send time and starts the request as a task of
   its own; if the loop is late, the request goes at once and its lateness counts.
3. A request's latency is its completion minus its scheduled time; failures are counted by
   status (or exception), never dropped silently.
4. The generator's own CPU use is reported: on a small machine it competes with the server.

Percentiles come with a distribution-free 95% interval (order statistics of the binomial).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["LoadResult", "run_load"]


@dataclass(frozen=True)
class LoadResult:
    rate: float  # offered requests per second
    sent: int
    latencies_ms: np.ndarray  # of the answered requests (status 200), from their scheduled time
    errors: dict[str, int] = field(default_factory=dict)  # status or exception name -> count
    duration_s: float = 0.0  # first scheduled send to last completion
    client_cpu: float = 0.0  # the generator's CPU seconds per wall second (1.0 = one core)

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


async def _one(client: Any, request: dict[str, Any], due: float) -> tuple[str, float]:
    try:
        response = await client.post(**request)
        status = str(response.status_code)
    except Exception as exc:  # a refused connection, a timeout: counted, not raised
        status = type(exc).__name__
    # perf_counter, not the loop's clock: uvloop's is cached per iteration, in whole ms
    return status, (time.perf_counter() - due) * 1000


async def _open_loop(
    request: dict[str, Any], times: np.ndarray, timeout_s: float
) -> tuple[list[tuple[str, float]], float]:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=timeout_s) as client:
        start = time.perf_counter() + 0.05
        tasks = []
        for at in times:
            due = start + float(at)
            delay = due - time.perf_counter()
            if delay > 0:  # timers wake within a millisecond; a late send counts as latency
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(_one(client, request, due)))
        results = await asyncio.gather(*tasks)
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
    request = {"url": url, "content": body, "headers": headers}
    process = psutil.Process()
    cpu = sum(process.cpu_times()[:2])
    wall = time.perf_counter()

    def generate() -> tuple[list[tuple[str, float]], float]:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_open_loop(request, times, timeout_s))

    # a thread of its own: the caller may have an event loop running (a notebook, Playwright)
    with ThreadPoolExecutor(1, thread_name_prefix="zenopt-load") as thread:
        results, duration = thread.submit(generate).result()
    client_cpu = (sum(process.cpu_times()[:2]) - cpu) / (time.perf_counter() - wall)
    latencies = np.asarray([ms for status, ms in results if status == "200"])
    errors: dict[str, int] = {}
    for status, _ in results:
        if status != "200":
            errors[status] = errors.get(status, 0) + 1
    return LoadResult(rate, count, latencies, errors, duration, client_cpu)
