"""The load generator's HTTP client against a real uvicorn server on loopback: it gets the
same statuses, bodies' ends and headers as httpx, reuses keep-alive connections, and turns a
refused connection or a server that does not answer into a status instead of raising."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.serving import stub_server

from zenopt.serve.client import PostClient
from zenopt.serve.load import server_timing

pytestmark = pytest.mark.slow

SERVER = """
import asyncio
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

async def echo(request):
    body = await request.body()
    if request.headers.get("x-status"):
        return Response(b"no", status_code=int(request.headers["x-status"]))
    timing = f"size;dur={len(body)}, type;desc=x;dur=0.5"
    return Response(body[::-1], headers={"Server-Timing": timing})

async def chunked(request):
    await request.body()

    async def parts():
        for part in (b"one", b"two", b"three"):
            yield part

    return StreamingResponse(parts(), headers={"Server-Timing": "a;dur=1"})

async def stall(request):
    await request.body()
    await asyncio.sleep(30)
    return Response(b"late")

app = Starlette(routes=[Route("/echo", echo, methods=["POST"]),
                       Route("/stall", stall, methods=["POST"]),
                       Route("/chunked", chunked, methods=["POST"])])
"""


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with stub_server(SERVER, "/echo") as url:
        yield url


def _posts(client: PostClient, count: int, together: bool) -> list[object]:
    async def go() -> list[object]:
        try:
            if together:
                return list(await asyncio.gather(*(client.post() for _ in range(count))))
            return [await client.post() for _ in range(count)]
        finally:
            client.close()

    return asyncio.run(go())


def test_statuses_and_headers_are_httpx_s_and_connections_are_reused(base: str) -> None:
    body = bytes(range(256)) * 40  # 10 KiB: more than one read on the way back
    client = PostClient(f"{base}/echo", body, {"Content-Type": "application/octet-stream"})
    answers = _posts(client, 20, together=False)
    reference = httpx.post(f"{base}/echo", content=body)
    for answer in answers:
        assert answer.status == str(reference.status_code) == "200"  # type: ignore[attr-defined]
        assert answer.timing == reference.headers["server-timing"]  # type: ignore[attr-defined]
    assert server_timing(answers[0].timing) == {"size": 10240.0, "type": 0.5}  # type: ignore[attr-defined]
    assert len(client.open) == 0  # closed; sequential posts used one connection:
    client = PostClient(f"{base}/echo", body, {})
    asyncio.run(_one_connection(client))
    refused = PostClient(f"{base}/echo", b"", {"X-Status": "503"})
    assert {a.status for a in _posts(refused, 5, together=True)} == {"503"}  # type: ignore[attr-defined]


async def _one_connection(client: PostClient) -> None:
    for _ in range(10):
        assert (await client.post()).status == "200"
    assert len(client.open) == 1
    await asyncio.gather(*(client.post() for _ in range(4)))  # at once: one connection each
    assert len(client.open) == 4
    client.close()


def test_failures_are_statuses_not_exceptions(base: str) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nobody = PostClient(f"http://127.0.0.1:{port}/x", b"x", {})
    assert {a.status for a in _posts(nobody, 3, together=True)} == {"ConnectionRefusedError"}  # type: ignore[attr-defined]
    slow = PostClient(f"{base}/stall", b"x", {}, timeout_s=0.2)
    started = time.perf_counter()
    (answer,) = _posts(slow, 1, together=True)
    assert answer.status == "ReadTimeout"  # type: ignore[attr-defined]
    assert 0.2 <= answer.done - started < 5  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="plain http"):
        PostClient("https://example.com/x", b"", {})


def test_chunked_and_connection_delimited_bodies_and_repeated_headers(base: str) -> None:
    chunked = PostClient(f"{base}/chunked", b"x", {})
    answers = _posts(chunked, 3, together=False)
    assert [(a.status, a.timing) for a in answers] == [("200", "a;dur=1")] * 3  # type: ignore[attr-defined]

    async def raw() -> list[object]:
        """A server of HTTP/1.1 with no length: the body ends when the connection does;
        Server-Timing sent twice."""

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(1)
            writer.write(b"HTTP/1.1 200 OK\r\nServer-Timing: a;dur=1\r\n"
                         b"Server-Timing: b;dur=2\r\n\r\nthe body")  # fmt: skip
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = PostClient(f"http://127.0.0.1:{port}/x", b"x", {})
        try:
            return [await client.post() for _ in range(2)]
        finally:
            client.close()
            server.close()

    for answer in asyncio.run(raw()):
        assert answer.status == "200"  # type: ignore[attr-defined]
        assert server_timing(answer.timing) == {"a": 1.0, "b": 2.0}  # type: ignore[attr-defined]


def test_server_timing_parsing() -> None:
    header = 'parse;dur=0.012, db;desc="a, b";DUR=3, cache;desc=x, run;dur=bad, q;dur="0.5"'
    assert server_timing(header) == {"parse": 0.012, "db": 3.0, "q": 0.5}
