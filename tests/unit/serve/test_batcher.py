"""The dynamic batcher against a reference computed row by row with NumPy: each request gets
exactly its own rows back however requests are coalesced; batches never pass max_batch; the
queue is bounded; a request that waits too long is answered 503 and never run."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from zenopt.serve.batcher import Batcher, BatchStats
from zenopt.serve.tensors import ClientError

W = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)


class Recorder:
    """A model (x @ W, row by row independent) that records the rows of every call."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.calls.append(len(X))
        if self.delay_s:
            time.sleep(self.delay_s)
        out: np.ndarray = X @ W
        return out


def _batcher(model: Recorder, **kw: object) -> Batcher:
    settings: dict[str, object] = {
        "max_batch": 16, "max_delay_s": 0.0, "queue_limit": 1000, "batching": True, **kw
    }  # fmt: skip
    return Batcher(model, ThreadPoolExecutor(1), **settings)  # type: ignore[arg-type]


async def _many(batcher: Batcher, requests: list[np.ndarray]) -> list[np.ndarray]:
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.submit(x, 10.0) for x in requests))
    finally:
        await batcher.stop()


def _requests(n: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(1, 6)), 4)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("delay_s", [0.0, 0.005])
def test_each_request_gets_its_own_rows_and_batches_respect_the_limit(delay_s: float) -> None:
    model = Recorder()
    requests = _requests(120)
    results = asyncio.run(_many(_batcher(model, max_delay_s=delay_s), requests))
    for x, y in zip(requests, results, strict=True):
        np.testing.assert_allclose(y, x @ W, rtol=1e-5, atol=1e-6)  # its own rows, in order
    assert sum(model.calls) == sum(len(x) for x in requests)
    assert max(model.calls) <= 16
    assert len(model.calls) < len(requests)  # submitted together: coalesced


def test_a_delay_gathers_requests_that_arrive_within_it() -> None:
    model = Recorder()

    async def staggered() -> None:
        batcher = _batcher(model, max_delay_s=0.2)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(np.ones((1, 4), np.float32), 10.0))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(batcher.submit(np.ones((2, 4), np.float32), 10.0))
        await asyncio.gather(first, second)
        await batcher.stop()

    asyncio.run(staggered())
    assert model.calls == [3]


def test_unbatched_runs_each_request_alone() -> None:
    model = Recorder()
    requests = _requests(30)
    results = asyncio.run(_many(_batcher(model, batching=False, max_delay_s=0.01), requests))
    assert model.calls == [len(x) for x in requests]
    for x, y in zip(requests, results, strict=True):
        np.testing.assert_allclose(y, x @ W, rtol=1e-5, atol=1e-6)


def test_a_full_queue_is_refused_with_503_and_recovers() -> None:
    model = Recorder()

    async def flood() -> list[object]:
        batcher = _batcher(model, queue_limit=3, max_delay_s=0.3)
        batcher.start()
        one = np.ones((1, 4), np.float32)
        answers = await asyncio.gather(
            *(batcher.submit(one, 10.0) for _ in range(8)), return_exceptions=True
        )
        answers.append(await batcher.submit(one, 10.0))  # the queue drained: taken again
        await batcher.stop()
        return answers

    answers = asyncio.run(flood())
    refused = [a for a in answers if isinstance(a, ClientError)]
    assert len(refused) == 5
    assert all(
        a.status == 503 and a.retry_after == 1 and "queue is full" in str(a) for a in refused
    )
    assert sum(isinstance(a, np.ndarray) for a in answers) == 4
    assert model.calls == [3, 1]


def _long_then_short(batcher: Batcher, short_s: float) -> list[object]:
    """Two one-row requests submitted together, the first with a long timeout and the second
    with ``short_s``: their answers (or errors)."""

    async def go() -> list[object]:
        batcher.start()
        one = np.ones((1, 4), np.float32)
        answers = await asyncio.gather(
            batcher.submit(one, 10.0), batcher.submit(one, short_s), return_exceptions=True
        )
        await batcher.stop()
        return answers

    return asyncio.run(go())


def test_a_request_that_times_out_in_the_queue_is_never_run() -> None:
    model = Recorder(delay_s=0.3)
    depths: list[int] = []

    stats = BatchStats(on_queue_depth=depths.append)
    first, second = _long_then_short(_batcher(model, max_batch=1, stats=stats), 0.05)
    assert isinstance(first, np.ndarray)
    assert isinstance(second, ClientError) and second.status == 503
    assert "timed out after 50 ms in the queue" in str(second)
    assert model.calls == [1]  # the timed-out request never reached the model
    assert depths[-1] == 0


def test_a_runtime_failure_reaches_every_request_of_its_batch() -> None:
    def broken(X: np.ndarray) -> np.ndarray:
        raise RuntimeError("kernel exploded")

    async def run() -> list[object]:
        batcher = Batcher(broken, ThreadPoolExecutor(1), 8, 0.05, 100)
        batcher.start()
        one = np.ones((1, 4), np.float32)
        answers = await asyncio.gather(
            *(batcher.submit(one, 10.0) for _ in range(3)), return_exceptions=True
        )
        await batcher.stop()
        return answers

    answers = asyncio.run(run())
    assert all(isinstance(a, RuntimeError) and "kernel exploded" in str(a) for a in answers)


def test_a_request_whose_client_went_away_leaves_the_queue_unrun() -> None:
    model = Recorder()

    async def abandon() -> np.ndarray:
        batcher = _batcher(model, max_delay_s=0.2)
        batcher.start()
        gone = asyncio.ensure_future(batcher.submit(np.zeros((2, 4), np.float32), 10.0))
        await asyncio.sleep(0.05)
        gone.cancel()  # what the app does when the client disconnects
        kept = await batcher.submit(np.ones((1, 4), np.float32), 10.0)
        await batcher.stop()
        return kept

    kept = asyncio.run(abandon())
    np.testing.assert_allclose(kept, np.ones((1, 4), np.float32) @ W, rtol=1e-5)
    assert model.calls == [1]  # the abandoned 2 rows never ran


def test_a_short_timeout_cuts_the_batching_delay_instead_of_expiring() -> None:
    model = Recorder()

    async def hurried() -> tuple[np.ndarray, float]:
        batcher = _batcher(model, max_delay_s=5.0)
        batcher.start()
        started = time.perf_counter()
        out = await batcher.submit(np.ones((1, 4), np.float32), 0.1)
        waited = time.perf_counter() - started
        await batcher.stop()
        return out, waited

    out, waited = asyncio.run(hurried())
    assert out.shape == (1, 3) and model.calls == [1]
    assert waited < 5.0  # it did not wait out the delay (nor was it refused)


def test_a_request_already_running_when_its_timeout_passes_gets_its_answer() -> None:
    model = Recorder(delay_s=0.3)

    async def slow() -> np.ndarray:
        batcher = _batcher(model, max_batch=1)
        batcher.start()
        out = await batcher.submit(np.ones((1, 4), np.float32), 0.1)
        await batcher.stop()
        return out

    np.testing.assert_allclose(asyncio.run(slow()), np.ones((1, 4), np.float32) @ W, rtol=1e-5)


def test_stop_waits_for_the_call_under_way() -> None:
    model = Recorder(delay_s=0.3)

    async def stopping() -> np.ndarray:
        batcher = _batcher(model)
        batcher.start()
        pending = asyncio.ensure_future(batcher.submit(np.ones((1, 4), np.float32), 10.0))
        await asyncio.sleep(0.05)  # the call has started
        await batcher.stop()
        assert pending.done()
        return pending.result()

    assert asyncio.run(stopping()).shape == (1, 3)


def test_requests_in_the_middle_of_the_queue_can_leave_it() -> None:
    """Timed out or abandoned, a job behind others leaves the queue (found by identity: its
    rows are never compared with its neighbours')."""
    model = Recorder(delay_s=0.2)

    async def crowd() -> list[object]:
        batcher = _batcher(model, max_batch=1)
        batcher.start()
        one = np.ones((1, 4), np.float32)
        first = asyncio.ensure_future(batcher.submit(one, 10.0))  # runs for 0.2 s
        await asyncio.sleep(0.02)
        waiting = [asyncio.ensure_future(batcher.submit(one * k, 10.0)) for k in (2, 3, 4)]
        expiring = asyncio.ensure_future(batcher.submit(one * 5, 0.05))
        last = asyncio.ensure_future(batcher.submit(one * 6, 10.0))
        await asyncio.sleep(0.01)
        waiting[1].cancel()  # the client of the third went away
        answers = await asyncio.gather(first, *waiting, expiring, last, return_exceptions=True)
        await batcher.stop()
        return answers

    answers = asyncio.run(crowd())
    assert isinstance(answers[2], asyncio.CancelledError)
    assert isinstance(answers[4], ClientError) and answers[4].status == 503
    for k, answer in zip(
        (1, 2, 4, 6), (answers[0], answers[1], answers[3], answers[5]), strict=True
    ):
        np.testing.assert_allclose(answer, k * np.ones((1, 4), np.float32) @ W, rtol=1e-5)  # type: ignore[arg-type]
    assert model.calls == [1, 1, 1, 1]  # neither the abandoned nor the expired one ran


def test_flush_runs_waiting_requests_without_the_delay() -> None:
    model = Recorder()

    async def stopping() -> float:
        batcher = _batcher(model, max_delay_s=5.0)
        batcher.start()
        started = time.perf_counter()
        waiting = asyncio.ensure_future(batcher.submit(np.ones((1, 4), np.float32), 30.0))
        await asyncio.sleep(0.05)
        batcher.flush()
        await waiting
        await batcher.stop()
        return time.perf_counter() - started

    assert asyncio.run(stopping()) < 5.0 and model.calls == [1]


class ThreadRecorder(Recorder):
    """The model, recording which thread each call ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def __call__(self, X: np.ndarray) -> np.ndarray:
        import threading

        self.threads.append(threading.get_ident())
        return super().__call__(X)


@pytest.mark.parametrize(("inline_rows", "busy"), [(0, 2.0), (3, 2.0), (16, 2.0), (16, 0.0)])
def test_short_calls_run_inline_and_longer_ones_in_the_inference_thread(
    inline_rows: int, busy: float
) -> None:
    """busy: the loop thread's CPU share under which short calls run inline (2: always;
    0: never, as when the server is busy)."""
    import threading

    model = ThreadRecorder()
    requests = _requests(60, seed=4)
    loop_thread: list[int] = []
    timings: list[dict[str, float]] = []

    async def go() -> list[np.ndarray]:
        loop_thread.append(threading.get_ident())
        batcher = _batcher(model, inline_rows=inline_rows, inline_busy=busy)
        batcher.start()
        timings.extend({} for _ in requests)
        answers = await asyncio.gather(
            *(batcher.submit(x, 10.0, t) for x, t in zip(requests, timings, strict=True))
        )
        await batcher.stop()
        return answers

    results = asyncio.run(go())
    for x, y in zip(requests, results, strict=True):
        np.testing.assert_allclose(y, x @ W, rtol=1e-5, atol=1e-6)
    for rows, thread in zip(model.calls, model.threads, strict=True):
        assert (thread == loop_thread[0]) == (rows <= inline_rows and busy > 1)
    # each request is told its wait and its batch's call, which it waited for first
    assert all(t["queue"] >= 0 and t["run"] > 0 for t in timings)


def test_a_request_due_as_its_batch_ends_is_answered_503_and_never_run() -> None:
    """The queue timer of a waiting request and the end of the running call fall due in the
    same loop iteration (the loop was held up): the request is refused, and never taken into
    the next batch."""
    model = Recorder(delay_s=0.02)

    async def race() -> list[object]:
        batcher = _batcher(model)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(np.ones((1, 4), np.float32), 10.0))
        await asyncio.sleep(0.001)  # the first request is running (20 ms)
        second = asyncio.ensure_future(batcher.submit(np.ones((1, 4), np.float32), 0.005))
        await asyncio.sleep(0)
        time.sleep(0.05)  # the loop is held: the call's end and the timer are both due
        answers = await asyncio.gather(first, second, return_exceptions=True)
        await asyncio.sleep(0.05)
        await batcher.stop()
        return answers

    first, second = asyncio.run(race())
    assert isinstance(first, np.ndarray)
    assert isinstance(second, ClientError) and second.status == 503, second
    assert model.calls == [1]


def test_inline_calls_still_time_requests_out() -> None:
    """A call on the loop's own thread holds every timer until it ends; a request that fell
    due meanwhile is refused, as it would be while the inference thread was busy."""
    model = Recorder(delay_s=0.03)

    batcher = _batcher(model, max_batch=1, inline_rows=16, inline_busy=2.0)
    first, second = _long_then_short(batcher, 0.005)
    assert isinstance(first, np.ndarray)
    assert isinstance(second, ClientError) and "timed out" in str(second)
    assert model.calls == [1]


def test_the_loop_s_busy_share_decides_inline_with_a_band(monkeypatch: pytest.MonkeyPatch) -> None:
    """Busy = the loop thread's CPU outside inline calls + the wall time of inline calls, per
    ~50 ms window: inline while under 0.8× the threshold, handed over above 1.2×, unchanged
    in between."""
    from zenopt.serve import batcher as module

    clock = {"wall": 100.0, "cpu": 10.0}
    monkeypatch.setattr(module.time, "perf_counter", lambda: clock["wall"])
    monkeypatch.setattr(module.time, "thread_time", lambda: clock["cpu"])
    batcher = _batcher(Recorder(), inline_rows=4, inline_busy=0.5)
    batcher._mark = (clock["wall"], clock["cpu"])
    batcher._inline_now = True

    def window(cpu_share: float, inline_wall: float = 0.0, inline_cpu: float = 0.0) -> bool:
        batcher._inline_spent = [inline_wall, inline_cpu]
        clock["wall"] += 0.06  # a window (~50 ms) has passed
        clock["cpu"] += cpu_share * 0.06
        return batcher._inline(1)

    assert window(0.3) is True  # 0.3 < 0.4
    assert window(0.55) is True  # within the band: unchanged
    assert window(0.7) is False  # > 0.6: handed over
    assert window(0.45) is False  # within the band: unchanged
    assert window(0.1) is True
    # an inline call's wall time counts in full, though the thread waited in it (CPU 0.005)
    assert window(0.1, inline_wall=0.04, inline_cpu=0.005) is False  # (.006 - .005 + .04) / .06
    assert batcher._inline(5) is False  # more rows than inline_rows: never inline
