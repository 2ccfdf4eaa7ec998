"""A client that goes away: ``unless_gone`` against a fake connection whose disconnect comes
when the test says. A disconnect while the work waits cancels the work and is a
ClientGoneError; a disconnect never seen leaves the work alone; the server's own
cancellation (shutting down) stays a cancellation, with or without a disconnect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from zenopt.serve.body import WATCH_AFTER_S, ClientGoneError, unless_gone


class _Connection:
    """``request.receive()`` as uvicorn's: the disconnect once ``gone`` is set."""

    def __init__(self) -> None:
        self.gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}


async def _work(seconds: float, ran: list[str]) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        ran.append("cancelled")
        raise
    ran.append("done")
    return "answer"


def test_a_disconnect_while_waiting_cancels_the_work() -> None:
    ran: list[str] = []

    async def go() -> None:
        connection = _Connection()
        asyncio.get_running_loop().call_later(WATCH_AFTER_S + 0.02, connection.gone.set)
        with pytest.raises(ClientGoneError):
            await unless_gone(connection, _work(1.0, ran))  # type: ignore[arg-type]
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0  # nothing left pending

    asyncio.run(go())
    assert ran == ["cancelled"]


def test_work_done_before_the_watch_starts_is_answered() -> None:
    ran: list[str] = []

    async def go() -> str:
        connection = _Connection()
        connection.gone.set()  # gone, but the answer is ready before anyone looks
        return await unless_gone(connection, _work(0.0, ran))  # type: ignore[arg-type]

    assert asyncio.run(go()) == "answer" and ran == ["done"]


@pytest.mark.parametrize("also_gone", [False, True])
def test_the_server_s_own_cancellation_stays_one(also_gone: bool) -> None:
    ran: list[str] = []

    async def go() -> None:
        connection = _Connection()
        handler = asyncio.ensure_future(unless_gone(connection, _work(1.0, ran)))  # type: ignore[arg-type]
        await asyncio.sleep(WATCH_AFTER_S + 0.02)
        if also_gone:
            connection.gone.set()
        handler.cancel()  # uvicorn stopping
        with pytest.raises(asyncio.CancelledError):
            await handler

    asyncio.run(go())
    assert ran == ["cancelled"]
