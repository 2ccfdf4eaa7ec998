"""The open-loop load generator, calibrated against a stub server with a known delay: below
its capacity the median, less the generator's own floor (the same requests to an endpoint with
no delay: HTTP and the Python client, about 2 ms here), is the delay within 10%; above it,
queueing shows, because each request is timed from when it was due, not from when the client
got round to it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from tests.serving import stub_server

from zenopt.serve.load import LoadResult, run_load

pytestmark = pytest.mark.slow

DELAY_S = 0.03  # one request at a time: a capacity of 33 per second

STUB = f"""
import asyncio
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

lock = asyncio.Lock()

async def infer(request):
    await request.body()
    async with lock:  # served one at a time, {DELAY_S * 1000:g} ms each
        await asyncio.sleep({DELAY_S})
    return Response(b"{{}}", media_type="application/json")

async def floor(request):
    await request.body()
    return Response(b"{{}}", media_type="application/json")

app = Starlette(routes=[Route("/infer", infer, methods=["POST"]),
                       Route("/floor", floor, methods=["POST"])])
"""


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    with stub_server(STUB, "/floor") as url:
        yield url + "/infer"  # and /floor


def test_below_capacity_the_median_is_the_delay(stub: str) -> None:
    floor = run_load(stub.replace("/infer", "/floor"), b"{}", {}, rate=15, count=60)
    result = run_load(stub, b"{}", {}, rate=15, count=60)  # 45% of capacity
    assert result.ok == 60 and not result.errors
    measured = result.percentile(50) - floor.percentile(50)
    assert abs(measured - DELAY_S * 1000) <= 0.1 * DELAY_S * 1000
    assert result.achieved_rps == pytest.approx(15, rel=0.15)
    assert 0 < result.client_cpu < 2


def test_above_capacity_the_queue_shows(stub: str) -> None:
    result = run_load(stub, b"{}", {}, rate=67, count=100)  # twice the capacity
    assert result.ok == 100
    # the last request was due at 1.5 s but waited behind 99 others of 30 ms (~3 s): a
    # closed-loop client would have reported ~30 ms for each
    assert result.percentile(99) > 1000
    assert result.percentile(50) > 10 * DELAY_S * 1000
    assert result.achieved_rps == pytest.approx(1 / DELAY_S, rel=0.2)


def test_percentile_intervals_hold_the_percentile() -> None:
    rng = np.random.default_rng(0)
    result = LoadResult(100, 2000, rng.exponential(5.0, 2000), duration_s=20)
    for q in (50, 95, 99):
        low, high = result.interval(q)
        assert low <= result.percentile(q) <= high
        true = -5.0 * np.log(1 - q / 100)  # the exponential's own percentile
        assert low <= true <= high


def test_it_runs_where_an_event_loop_is_already_running(stub: str) -> None:
    """As in a notebook, or beside Playwright's sync API in this test process."""
    import asyncio

    async def inside() -> LoadResult:
        return run_load(stub.replace("/infer", "/floor"), b"{}", {}, rate=50, count=10)

    assert asyncio.run(inside()).ok == 10
