"""A request's body, read within bounds, and a client that goes away.

The body is refused (413) past the limit — before reading it when its length is declared, and
after inflating a gzip or deflate body — and must arrive within a minute (408), so a stalled
or endless upload cannot hold the server. A client that disconnects while its request
waits for the model takes the request with it: it leaves the queue and is never run.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

from zenopt.serve.tensors import ClientError

__all__ = ["ClientGoneError", "read_body", "unless_gone"]

T = TypeVar("T")


class ClientGoneError(Exception):
    """The client disconnected before its answer was ready."""


async def _receive(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ClientError(
            413,
            f"the body is {declared} bytes, over the limit of {limit} bytes (--max-body-mb); "
            "send fewer rows per request",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ClientError(
                413,
                f"the body is over the limit of {limit} bytes (--max-body-mb); send fewer "
                "rows per request",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _inflated(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise ClientError(400, f"Content-Encoding {encoding!r}: send gzip, deflate or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ClientError(400, f"the body is not valid {encoding} data ({exc})") from None
    if len(inflated) > limit:
        raise ClientError(413, f"the inflated body is over the limit of {limit} bytes")
    return inflated


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, at most ``limit`` bytes (inflated), arrived within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            body = await _receive(request, limit)
    except TimeoutError:
        raise ClientError(
            408,
            f"the body did not arrive within {timeout_s:g} s; send it at once",
        ) from None
    return _inflated(body, request.headers.get("content-encoding", "identity").lower(), limit)


WATCH_AFTER_S = 0.01  # a request answered sooner is never watched (a task costs ~10 µs)


async def unless_gone(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """``work``'s result; if the client disconnects first, ``work`` is cancelled and
    :class:`ClientGoneError` raised. The connection is watched from ``WATCH_AFTER_S`` on."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    gone = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal gone
        # the body is read: the server's next message is the disconnect (or the response's end)
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    def start() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())
        watcher.add_done_callback(_quiet)

    timer = loop.call_later(WATCH_AFTER_S, start)
    try:
        result = await work
    except asyncio.CancelledError:
        if not gone:
            raise
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
    if gone:
        if task.uncancel() == 0:  # the disconnect was the only cancellation
            raise ClientGoneError
        raise asyncio.CancelledError  # the server is stopping too: that cancellation stands
    return result


def _quiet(watcher: asyncio.Task[None]) -> None:
    """A watcher's own failure (the connection broke oddly) is not the request's."""
    if not watcher.cancelled():
        watcher.exception()
