"""The measurements of ``bench_serve.py``: the in-process ceiling, the saturation rate,
interleaved comparisons of serving options (inline runtime calls; ONNX Runtime's spinning
threads), the load generator's own cost against httpx's, and a CPU coming back from idle."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.serve_config import ServeConfig
from zenopt.serve.model import load_runtime, load_served
from zenopt.serve.tuning import Knobs, measure, serving

INLINE = {"--inline-us 0": ["--inline-us", "0"], "--inline-us 200": ["--inline-us", "200"]}
SPIN = {"--spin, 2 threads": ["--spin", "--threads", "2"],
        "--no-spin, 2 threads": ["--no-spin", "--threads", "2"],
        "1 thread": ["--threads", "1"]}  # fmt: skip


def ceiling(path: Path) -> float:
    """One-row calls per second of the model in its runtime, in this process (median of 5
    rounds of 2 s, called on this thread: no hand-over)."""
    served = load_served(path, None, None)
    loaded = load_runtime(served, 1, spinning=True)  # back-to-back calls: spinning helps
    shape = tuple(served.manifest["model"]["input_shape"])
    x = np.zeros((1, *shape), dtype=np.float32)
    rounds = []
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            loaded.run(x)
            calls += 1
        rounds.append(calls / (time.perf_counter() - start))
    loaded.close()
    return statistics.median(rounds)


def _keeping_up(point: dict[str, Any]) -> bool:
    return bool(point["achieved_rps"] >= 0.9 * point["offered_rps"] and not point["errors"])


def saturation(
    path: Path, request: tuple[bytes, dict[str, str]], config: ServeConfig, knobs: Knobs
) -> tuple[float, list[dict[str, Any]]]:
    """The most answered per second: offered rates doubling from 100/s until the server
    answers under 90% of what was offered (or fails a request), then 3 halvings of the
    interval between the last rate it kept up with and the first it did not; and the points."""
    points: list[dict[str, Any]] = []
    with serving(path, knobs) as url:
        low, high = 0.0, 100.0
        while high < 50000:
            points.append(measure(url, request, high, config))
            if not _keeping_up(points[-1]):
                break
            low, high = high, high * 2
        for _ in range(3):
            middle = (low + high) / 2
            points.append(measure(url, request, middle, config))
            low, high = (middle, high) if _keeping_up(points[-1]) else (low, middle)
    return max(p["achieved_rps"] for p in points), points


def knob_ab(
    path: Path, request: tuple[bytes, dict[str, str]], config: ServeConfig,
    rates: list[float], rounds: int, variants: dict[str, list[str]],
) -> dict[tuple[str, float], list[dict[str, Any]]]:  # fmt: skip
    """Each variant (``zenopt serve`` options added to ``--max-batch 32``) at each rate; the
    variants' order reverses from round to round (interleaved, one server process per
    variant and round). Each figure also gets the server process's CPU µs per request."""
    import psutil

    from zenopt.serve.process import served

    out: dict[tuple[str, float], list[dict[str, Any]]] = {}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            with served(path, "--in-progress", "--max-batch", "32", *variants[name]) as server:
                process = psutil.Process(server.process.pid)
                for rate in rates:
                    cpu = sum(process.cpu_times()[:2])
                    figure = measure(server.model_url, request, rate, config)
                    sent = config.requests + max(10, config.requests // 10)  # and the warm-up
                    figure["server_cpu_us"] = (sum(process.cpu_times()[:2]) - cpu) / sent * 1e6
                    out.setdefault((name, rate), []).append(figure)
    return out


async def _httpx_open_loop(url: str, body: bytes, headers: dict[str, str], times: Any) -> None:
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=256)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        start = time.perf_counter() + 0.05
        tasks = []
        for at in times:
            delay = start + float(at) - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(client.post(url, content=body, headers=headers)))
        await asyncio.gather(*tasks)


def client_cost(
    path: Path, request: tuple[bytes, dict[str, str]], rate: float, count: int, rounds: int
) -> dict[str, list[float]]:
    """The generator's CPU µs per request at ``rate``: zenopt's client against httpx's
    (the same open loop on uvloop), interleaved rounds against one server."""
    import psutil
    import uvloop

    from zenopt.serve.load import run_load

    body, headers = request
    process = psutil.Process()
    out: dict[str, list[float]] = {"zenopt.serve.client": [], "httpx": []}
    with serving(path, Knobs(max_batch=32)) as url:
        run_load(f"{url}/infer", body, headers, rate, count // 10)  # warm
        for r in range(rounds):
            for name in list(out) if r % 2 == 0 else list(out)[::-1]:
                cpu = sum(process.cpu_times()[:2])
                if name == "httpx":
                    times = np.arange(count) / rate
                    uvloop.run(_httpx_open_loop(f"{url}/infer", body, headers, times))
                else:
                    run_load(f"{url}/infer", body, headers, rate, count)
                out[name].append((sum(process.cpu_times()[:2]) - cpu) / count * 1e6)
    return out


def cold_cpu(path: Path, request: tuple[bytes, dict[str, str]]) -> dict[float, float]:
    """Parsing one request (pure Python, ~10 µs hot) after the CPU idled ``gap`` seconds:
    the median µs of 300, by gap. A server at a few hundred requests a second idles 1-5 ms
    between them."""
    from zenopt.serve.tensors import parse_infer_request

    body, headers = request
    length = headers.get("Inference-Header-Content-Length")
    out = {}
    for gap in (0.0, 0.001, 0.005):
        spent = []
        for _ in range(300):
            if gap:
                time.sleep(gap)
            started = time.perf_counter()
            parse_infer_request(body, length)
            spent.append(time.perf_counter() - started)
        out[gap] = float(np.median(spent)) * 1e6
    return out
