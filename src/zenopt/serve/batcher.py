"""Dynamic batching: requests waiting for the model are coalesced into one runtime call.

1. A request's rows join a bounded queue; a full queue is refused at once (503, Retry-After),
   never queued without bound.
2. The dispatcher takes the oldest request, then every waiting request whose rows still fit in
   ``max_batch`` rows, waiting at most ``max_delay_s`` after the oldest one arrived for more
   (0: an idle server runs a request at once; under load, what queued during the previous
   call is batched anyway, as Triton's dynamic batcher does). Requests stay in the queue,
   counting against its bound, until their batch leaves for the runtime.
3. One runtime call runs in the inference thread while the event loop goes on reading
   requests; its outputs are cut back into each request's own rows, in order. A call of at
   most ``inline_rows`` rows (one the model answered within ``--inline-us`` at startup, see
   ``model.py``) runs on the event loop's own thread instead, saving the ~90 µs hand-over,
   while that thread is less than half busy (its CPU time over the last 50 ms): a busy server
   keeps handing calls over, so that reading requests overlaps the model.

A model whose outputs depend on the batch's composition (dynamic INT8) is served with
``batching=False``: each request is one runtime call of its own rows, exactly as
``zenopt predict`` runs a file. A batch never waits for more requests past the timeout of one
already in it, so a request only expires while the model is busy: then it is answered 503
and never run; one that has started running finishes. A request whose client went away
(its task cancelled) leaves the queue and is never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zenopt.serve.tensors import ClientError

__all__ = ["BatchStats", "Batcher"]

_MARGIN_S = 0.002  # a batch leaves this long before the timeout of a job in it
_WINDOW_S = 0.05  # how often the event loop thread's busy share is looked at again
_INLINE_BELOW = 0.5  # calls run inline only while that share is under this


class _ExpiredError(Exception):
    """A job's time ran out in the queue (not a runtime's own TimeoutError)."""


@dataclass(eq=False)  # found in the queue by identity: comparing arrays is an error
class _Job:
    X: np.ndarray
    enqueued: float
    deadline: float  # when it stops waiting in the queue
    future: asyncio.Future[np.ndarray]
    taken: bool = False
    started: float = 0.0  # when its batch's runtime call started
    run_s: float = 0.0  # how long that call took

    @property
    def rows(self) -> int:
        return len(self.X)


@dataclass
class BatchStats:
    """What the metrics need from the batcher, as callbacks (no Prometheus import here)."""

    on_queue_depth: Callable[[int], None] = lambda depth: None
    on_queue_wait: Callable[[float], None] = lambda seconds: None
    on_batch: Callable[[int, float], None] = lambda rows, seconds: None


@dataclass
class Batcher:
    run: Callable[[np.ndarray], np.ndarray]  # the runtime call
    executor: ThreadPoolExecutor  # the one thread it is made in
    max_batch: int
    max_delay_s: float
    queue_limit: int
    batching: bool = True
    stats: BatchStats = field(default_factory=BatchStats)
    inline_rows: int = 0  # calls of at most this many rows run on the event loop's thread
    inline_busy: float = _INLINE_BELOW  # … while its CPU share is under this (tests set it)
    _pending: deque[_Job] = field(default_factory=deque, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _running: bool = field(default=False, init=False)  # a runtime call is under way
    _closing: bool = field(default=False, init=False)  # stopping: no more waiting for company
    _last_run: tuple[float, float] = field(default=(0.0, 0.0), init=False)  # start, end
    _inline_now: bool = field(default=True, init=False)  # the mode the last window chose
    _mark: tuple[float, float] = field(default=(0.0, 0.0), init=False)  # wall, thread CPU
    _inline_spent: list[float] = field(default_factory=lambda: [0.0, 0.0], init=False)

    def call(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn`` in the inference thread."""
        return asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _timed(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        out = self.run(X)
        return out, time.perf_counter() - started

    def _inline(self, rows: int) -> bool:
        """Whether a call of ``rows`` rows runs on this (the event loop's) thread: a short
        one, while the loop's thread is less than ``inline_busy`` busy. Busy: its CPU time
        outside inline calls plus the wall time of those calls (in which it also waits for
        the runtime's own threads), over the last window of ~50 ms; the mode changes only
        when the share leaves a band of ±20% around the threshold."""
        if rows > self.inline_rows:
            return False
        wall, cpu = time.perf_counter(), time.thread_time()
        elapsed = wall - self._mark[0]
        if elapsed >= _WINDOW_S:
            inline_wall, inline_cpu = self._inline_spent
            busy = (cpu - self._mark[1] - inline_cpu + inline_wall) / elapsed
            if busy > 1.2 * self.inline_busy:
                self._inline_now = False
            elif busy < 0.8 * self.inline_busy:
                self._inline_now = True
            self._mark, self._inline_spent = (wall, cpu), [0.0, 0.0]
        return self._inline_now

    def _timed_inline(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        cpu = time.thread_time()
        out, seconds = self._timed(X)
        self._inline_spent[0] += seconds
        self._inline_spent[1] += time.thread_time() - cpu
        return out, seconds

    async def _run(self, X: np.ndarray, inline: bool) -> tuple[np.ndarray, float]:
        """The runtime call for a batch, and its seconds (the call alone, not the hand-over):
        on this thread when it is short and the loop has time, else in the inference thread
        while the loop goes on."""
        if not inline:
            answer: tuple[np.ndarray, float] = await self.call(self._timed, X)
            return answer
        return self._timed_inline(X)

    def start(self) -> None:
        self._mark = (time.perf_counter(), time.thread_time())
        self._inline_now = self.inline_busy > 0
        self._task = asyncio.get_running_loop().create_task(self._dispatch())

    def flush(self) -> None:
        """The server is stopping: run what waits now, without waiting out the delay."""
        self._closing = True
        self._wake.set()

    async def stop(self) -> None:
        """After the server stopped taking requests: finish what is queued, then stop."""
        while self._pending or self._running:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(
        self, X: np.ndarray, timeout_s: float, timing: dict[str, float] | None = None
    ) -> np.ndarray:
        """The model's outputs for the rows ``X``; 503 when the queue is full or the request
        waited ``timeout_s`` without being run. ``timing`` gets the seconds it waited in the
        queue (``queue``) and the seconds of its batch's runtime call (``run``)."""
        if len(self._pending) >= self.queue_limit:
            raise ClientError(
                503,
                f"the queue is full ({self.queue_limit} requests waiting; --queue); retry later",
                retry_after=1,
            )
        now = time.perf_counter()
        job = _Job(X, now, now + timeout_s, asyncio.get_running_loop().create_future())
        self._pending.append(job)
        self.stats.on_queue_depth(len(self._pending))
        self._wake.set()
        try:
            out = await self._answer(job, timeout_s)
            if timing is not None:
                timing["queue"], timing["run"] = job.started - job.enqueued, job.run_s
            return out
        except _ExpiredError:
            waited = f"{timeout_s * 1e3:g} ms" if timeout_s >= 1e-3 else f"{timeout_s * 1e6:g} µs"
            raise ClientError(
                503,
                f"timed out after {waited} in the queue without being run "
                "(--timeout-ms, or the request's parameters.timeout); retry later",
                retry_after=1,
            ) from None
        finally:
            if not job.taken:  # the client went away
                self._leave(job)

    def _leave(self, job: _Job) -> None:
        """Take a job that will not run out of the queue (if it is still there)."""
        if job in self._pending:
            self._pending.remove(job)
            self.stats.on_queue_depth(len(self._pending))
            self._wake.set()  # the oldest job may have changed: the dispatcher looks again

    def _expire(self, job: _Job) -> None:
        self._leave(job)
        job.future.set_exception(_ExpiredError())

    def _expire_overdue(self) -> None:
        """Refuse the waiting jobs whose time ran out while the model was busy (their timers
        may not have had their turn yet: an inline call held the loop)."""
        now = time.perf_counter()
        for job in [j for j in self._pending if j.deadline < now and self._busy_at(j.deadline)]:
            if not job.future.done():
                self._expire(job)

    def _busy_at(self, moment: float) -> bool:
        """Whether the model was running at ``moment`` (or is running now)."""
        return self._running or self._last_run[0] <= moment <= self._last_run[1]

    async def _answer(self, job: _Job, timeout_s: float) -> np.ndarray:
        """The job's outputs; :class:`_ExpiredError` when its time ran out while the model was busy
        (running when it fell due, or since: an inline call holds the loop, and this timer,
        until it ends). While the model is idle the dispatcher takes a job before its time
        runs out; if both fall due together, the dispatcher wins: the job is looked at again
        shortly. An expired job leaves the queue here, in the timer's own callback, so that the
        dispatcher can never take it."""
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def expire() -> None:
            nonlocal timer
            if job.future.done() or job.taken:  # answered, or running: it finishes
                return
            if self._busy_at(job.deadline):
                self._expire(job)
            else:
                timer = loop.call_later(0.005, expire)

        timer = loop.call_later(timeout_s, expire)  # a timer, not wait_for: ~15 µs less a call
        try:
            return await job.future
        finally:
            timer.cancel()

    def _fitting(self) -> tuple[int, int]:
        """How many waiting jobs, from the oldest, make the next batch, and their rows."""
        count, rows = 1, self._pending[0].rows
        while count < len(self._pending) and rows + self._pending[count].rows <= self.max_batch:
            rows += self._pending[count].rows
            count += 1
        return count, rows

    async def _collect(self) -> list[_Job]:
        """The next batch. Jobs stay in the queue (and count against its bound) until the
        batch is full, the next job does not fit, or the oldest job has waited the delay."""
        while True:
            self._expire_overdue()
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            count, rows = (1, 0) if not self.batching else self._fitting()
            full = rows >= self.max_batch or count < len(self._pending)
            if not self.batching or full or self._closing:
                break
            # wait for more no longer than the delay, nor past a waiting job's own timeout
            # (less a margin, so that it runs instead of expiring while the model is idle)
            soonest = min(job.deadline for job in self._pending) - _MARGIN_S
            remaining = min(self._pending[0].enqueued + self.max_delay_s, soonest)
            remaining -= time.perf_counter()
            if remaining <= 0:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)
        batch = [self._pending.popleft() for _ in range(count)]
        for job in batch:
            job.taken = True
        return [job for job in batch if not job.future.done()]  # (a client gone meanwhile)

    async def _dispatch(self) -> None:
        while True:
            batch = await self._collect()
            self.stats.on_queue_depth(len(self._pending))
            if not batch:
                continue
            started = time.perf_counter()
            for job in batch:
                job.started = started
                self.stats.on_queue_wait(started - job.enqueued)
            self._running = True
            try:
                X = batch[0].X if len(batch) == 1 else np.concatenate([j.X for j in batch])
                inline = self._inline(len(X))
                out, run_s = await self._run(X, inline)
            except Exception as exc:  # the runtime's own error: every request of the batch
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            finally:
                self._running = False
                self._last_run = (started, time.perf_counter())
            self.stats.on_batch(len(X), run_s)
            at = 0
            for job in batch:
                job.run_s = run_s
                if not job.future.done():
                    job.future.set_result(out[at : at + job.rows])
                at += job.rows
            if inline:
                await asyncio.sleep(0)  # the answered requests reply before the next call
