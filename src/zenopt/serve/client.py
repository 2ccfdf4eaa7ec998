"""A lean HTTP/1.1 client for the load generator: one prepared POST sent over a pool of
keep-alive connections (asyncio protocols, responses parsed by httptools, uvicorn's parser).

httpx spends about half a millisecond of CPU on a request; on a 2-core machine the generator
then shares the server's cores at a rate the server could have answered, and its saturation
measures the client. This client spends a tenth of that (``benchmarks/bench_serve.py``
measures both). It does only what the generator needs: the same request again and again,
the status, one response header, and the moment the response was complete.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

__all__ = ["Answer", "PostClient"]


@dataclass(frozen=True)
class Answer:
    status: str  # the status code, or the name of what went wrong ("ConnectionRefusedError")
    done: float  # perf_counter when the response was complete (or the failure known)
    timing: str = ""  # the Server-Timing header, if any


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request on it at a time."""

    def __init__(self, header: str) -> None:
        import httptools

        self.header = header.encode()  # the response header to keep, lower case
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.timing: list[bytes] = []
        self.headers_done = False  # the current response's headers are in
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # httptools' HttpParserError: not HTTP
            self.fail(type(exc).__name__)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self.headers_done:  # a body that ends with the connection
            self.on_message_complete()
            return
        self.fail(type(exc).__name__ if exc else "RemoteProtocolError")

    # httptools' callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == self.header:
            self.timing.append(value)  # repeated fields are one list (RFC 9110)

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_message_complete(self) -> None:
        self.headers_done = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            status = str(self.parser.get_status_code())
            timing = b", ".join(self.timing).decode("latin-1")
            waiter.set_result(Answer(status, time.perf_counter(), timing))
        if not self.parser.should_keep_alive() and self.transport is not None:
            self.closed = True
            self.transport.close()

    def fail(self, why: str) -> None:
        """No answer (``why``) to the request waiting on this connection, which closes."""
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(why, time.perf_counter()))
        if self.transport is not None:
            self.closed = True
            self.transport.close()

    def send(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None and self.waiter is None
        self.timing = []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter


class PostClient:
    """POSTs one body to one URL; each :meth:`post` takes an idle connection or opens one."""

    def __init__(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float = 30.0
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url}: the load generator speaks plain http:// only")
        self.host, self.port = parts.hostname, parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}"]
        given = {k.lower() for k in headers}
        lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
        if "content-type" not in given:
            lines.append("Content-Type: application/octet-stream")
        lines.append(f"Content-Length: {len(body)}")
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self.timeout_s = timeout_s
        self.idle: list[_Connection] = []
        self.open: set[_Connection] = set()

    async def _connection(self) -> _Connection:
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                return connection
            self.open.discard(connection)  # the server closed it while it was idle
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: _Connection("server-timing"), self.host, self.port),
            self.timeout_s,
        )
        self.open.add(protocol)
        return protocol

    async def post(self) -> Answer:
        """The answer to one request: its status (or why none came) and when it came."""
        try:
            connection = await self._connection()
        except TimeoutError:
            return Answer("ConnectTimeout", time.perf_counter())
        except OSError as exc:
            return Answer(type(exc).__name__, time.perf_counter())
        waiter = connection.send(self.request)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.timeout_s, connection.fail, "ReadTimeout")
        answer = await waiter
        timer.cancel()
        if connection.closed:
            self.open.discard(connection)
        else:
            self.idle.append(connection)
        return answer

    def close(self) -> None:
        for connection in self.open:
            if connection.transport is not None:
                connection.transport.close()
        self.open.clear()
        self.idle.clear()
