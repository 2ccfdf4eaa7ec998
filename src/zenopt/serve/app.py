"""The Open Inference Protocol (v2) REST app: a Starlette app of a few routes, one middleware
that counts requests, and a lifespan that loads the model before the first request and
drains the queue after the last.

Routes: ``GET /v2/health/live``, ``/v2/health/ready``, ``/v2``, ``/v2/models/{name}[/versions/1]``
(metadata), ``…/ready``, ``POST …/infer``, and ``GET /metrics`` (Prometheus). Every error is
``{"error": "..."}`` with its status: 400 for a request the model cannot take, 404 for an
unknown model or path, 405 for a wrong method, 408 for a body that does not arrive, 413 for a
body over the limit, 503 (with Retry-After) when the queue is full or a request timed out in
it; a 500 is the server's own fault, never a client's. A client that went away is counted as
499 and gets nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zenopt import __version__
from zenopt.serve.batcher import Batcher, BatchStats
from zenopt.serve.body import ClientGoneError, read_body, unless_gone
from zenopt.serve.metrics import CountRequests, ServerMetrics
from zenopt.serve.model import LoadedRuntime, ServedModel, load_runtime, load_served
from zenopt.serve.settings import ServeSettings
from zenopt.serve.tensors import ClientError, parse_infer_request, response_body

__all__ = ["body_limit", "create_app", "worker_app"]

VERSION = "1"  # one version per served model
_LOG = logging.getLogger("zenopt.serve")
BODY_TIMEOUT_S = 60.0  # a body must arrive within this (a stalled upload cannot hold a slot)


def _finite(raw: np.ndarray) -> np.ndarray:
    """The model's outputs for a request, refused (400) where they are not numbers: inputs far
    outside what the model was trained on can overflow inside it."""
    if np.isfinite(raw.sum()):  # one reduction: a NaN or infinity anywhere makes it one
        return raw
    bad = ~np.isfinite(raw.reshape(len(raw), -1)).all(axis=1)
    if bad.any():
        raise ClientError(
            400,
            f"the model's outputs for row {int(np.flatnonzero(bad)[0])} are not finite (NaN or "
            "infinite): its inputs are far outside the range the model was trained on",
        )
    return raw  # only the sum overflowed


def _server_timing(marks: dict[str, float]) -> str:
    """The Server-Timing header (ms, as its spec has it): where the request's time went."""
    return ", ".join(f"{name};dur={seconds * 1e3:.3f}" for name, seconds in marks.items())


def body_limit(served: ServedModel, settings: ServeSettings) -> int:
    """Bytes a request body may have: ``--max-body-mb``, else what ``max_batch`` rows take as
    JSON (24 characters a number, 256 a text value) plus 64 KiB, and at least 1 MiB."""
    if settings.max_body_mb is not None:
        return int(settings.max_body_mb * 2**20)
    per_row = sum(
        256 if t.datatype == "BYTES" else 24 * int(np.prod(t.shape[1:], dtype=np.int64))
        for t in served.signature.inputs
    )
    return max(2**20, settings.max_batch * per_row + 2**16)


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _Endpoints:
    """The routes' handlers, over one served model and its batcher."""

    def __init__(self, served: ServedModel, settings: ServeSettings) -> None:
        self.served, self.settings = served, settings
        self.metrics = ServerMetrics()
        self.limit = body_limit(served, settings)
        self.ready = False
        self.batcher: Batcher | None = None

    def _model(self, request: Request) -> None:
        name = request.path_params["name"]
        version = request.path_params.get("version", VERSION)
        if name != self.served.name:
            raise ClientError(404, f"model {name!r} is not served here; this server serves "
                              f"{self.served.name!r}")  # fmt: skip
        if version != VERSION:
            raise ClientError(404, f"model {name!r} has no version {version!r}; it has {VERSION!r}")

    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready_check(self, request: Request) -> Response:
        if "name" in request.path_params:
            self._model(request)
        return JSONResponse({"ready": self.ready}, status_code=200 if self.ready else 503)

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(
            {"name": "zenopt", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    async def model_metadata(self, request: Request) -> Response:
        self._model(request)
        served, settings = self.served, self.settings
        parameters = {
            "deployed": served.label,
            "runtime": served.runtime,
            "threads": served.threads,
            "max_batch_size": settings.max_batch,
            "dynamic_batching": served.unbatched_reason is None,
            "max_queue_delay_microseconds": settings.max_delay_us,
            "max_queue_size": settings.queue,
            "max_body_bytes": self.limit,
            "inline_us": settings.inline_us,
            "spinning": settings.spin,
        }
        if served.unbatched_reason is not None:
            parameters["unbatched_reason"] = served.unbatched_reason
        if served.signature.class_names:  # the columns of ``probabilities``, in order
            parameters["classes"] = served.signature.class_names
        return JSONResponse({
            "name": served.name,
            "versions": [VERSION],
            "platform": served.platform,
            "inputs": [t.metadata() for t in served.signature.inputs],
            "outputs": [t.metadata() for t in served.signature.outputs],
            "parameters": parameters,
        })  # fmt: skip

    async def metrics_page(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition(request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    def _wanted(self, asked: list[str] | None) -> list[str]:
        names = [t.name for t in self.served.signature.outputs]
        for name in asked or []:
            if name not in names:
                raise ClientError(400, f"unknown output {name!r}; the model gives "
                                  f"{', '.join(repr(n) for n in names)}")  # fmt: skip
        return asked or names

    async def infer(self, request: Request) -> Response:
        """One infer request; its Server-Timing header says where its time went in the app:
        ``parse`` (body to the runtime's batch), ``queue``, ``run`` (its batch's runtime call),
        ``reply`` (outputs to the response body) and ``app`` (all of it)."""
        entered = time.perf_counter()
        self._model(request)
        assert self.batcher is not None  # the lifespan set it before any request
        body = await read_body(request, self.limit, BODY_TIMEOUT_S)
        parsing = time.perf_counter()
        asked = parse_infer_request(body, request.headers.get("inference-header-content-length"))
        X = self.served.signature.encode(asked.inputs, self.metrics.on_unseen)
        if len(X) > self.settings.max_batch:
            raise ClientError(400, f"{len(X)} rows: more than the {self.settings.max_batch} a "
                              "request may have (--max-batch); split the request")  # fmt: skip
        wanted = self._wanted(asked.outputs)
        timeout = self.settings.timeout_ms / 1000
        if asked.timeout_us is not None:
            timeout = min(timeout, asked.timeout_us / 1e6)
        marks = {"parse": time.perf_counter() - parsing}
        self.metrics.parse.observe(marks["parse"])
        raw = await unless_gone(request, self.batcher.submit(X, timeout, marks))
        replying = time.perf_counter()
        outputs = self.served.signature.decode(_finite(raw), wanted)
        head: dict[str, Any] = {"model_name": self.served.name, "model_version": VERSION}
        if asked.id is not None:
            head["id"] = asked.id
        binary = asked.binary_outputs if asked.outputs is not None else set()
        if asked.outputs is None and asked.all_binary:
            binary = set(wanted)
        content, header_length = response_body(head, [(n, *outputs[n]) for n in wanted], binary)
        done = time.perf_counter()
        marks["reply"], marks["app"] = done - replying, done - entered
        self.metrics.serialise.observe(marks["reply"])
        headers = {"Server-Timing": _server_timing(marks)}
        if header_length is None:
            return Response(content, headers=headers, media_type="application/json")
        headers["Inference-Header-Content-Length"] = str(header_length)
        return Response(content, headers=headers, media_type="application/octet-stream")


def _answering(
    handler: Callable[[Request], Awaitable[Response]], debug: bool
) -> Callable[[Request], Awaitable[Response]]:
    """A handler whose :class:`ClientError` becomes its status and ``{"error": ...}``, and
    whose own failure is a 500 logged in one line (with the traceback under ``--debug``)."""

    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except ClientError as exc:
            return _error(exc.status, str(exc), exc.retry_after)
        except (ClientGoneError, ClientDisconnect):  # nobody to answer: counted as nginx's 499
            return Response(status_code=499)
        except Exception as exc:
            from zenopt.core.errors import first_line

            message = f"the server failed on this request: {first_line(exc)}"
            _LOG.error("%s %s: %s", request.method, request.url.path, message, exc_info=debug)
            return _error(500, message)

    return answer


def _routes(ends: _Endpoints) -> list[Route]:
    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    routes = [
        Route("/v2/health/live", ends.live),
        Route("/v2/health/ready", ends.ready_check),
        Route("/v2", ends.server_metadata),
        Route("/metrics", ends.metrics_page),
    ]
    debug = ends.settings.debug
    for base in (model, versioned):
        routes += [
            Route(base, _answering(ends.model_metadata, debug)),
            Route(base + "/ready", _answering(ends.ready_check, debug)),
            Route(base + "/infer", _answering(ends.infer, debug), methods=["POST"]),
        ]
    return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = (
            f"no endpoint {request.url.path}; the server speaks the Open Inference Protocol "
            "v2: /v2, /v2/health/ready, /v2/models/{name}[/infer], /metrics"
        )
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    response = _error(exc.status_code, message)
    response.headers.update(exc.headers or {})  # 405's Allow
    return response


def _flush_on_stop(batcher: Batcher) -> None:
    """On SIGTERM or Ctrl-C, run what waits in the queue at once instead of waiting out the
    batching delay; then do what the server does on the signal (stop taking connections).
    Only the main thread may set handlers: the server's, where uvicorn runs the app."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def stopping(number: int, frame: Any, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(batcher.flush)
            if callable(previous):
                previous(number, frame)

        signal.signal(sig, stopping)


def create_app(
    served: ServedModel, settings: ServeSettings, runtime: LoadedRuntime | None = None
) -> Starlette:
    """The app for one served model, in ``runtime`` if loaded already (else its lifespan
    loads it); after shutdown, it finishes what is queued before closing the runtime."""
    ends = _Endpoints(served, settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loaded = runtime or load_runtime(
            served, settings.max_batch, settings.inline_us / 1e6, settings.spin
        )
        stats = BatchStats(
            on_queue_depth=ends.metrics.queue_depth.set,
            on_queue_wait=ends.metrics.queue_wait.observe,
            on_batch=ends.metrics.on_batch,
        )
        ends.batcher = Batcher(
            loaded.run, loaded.executor, settings.max_batch,
            settings.max_delay_us / 1e6, settings.queue, served.unbatched_reason is None, stats,
            loaded.inline_rows,
        )  # fmt: skip
        ends.batcher.start()
        _flush_on_stop(ends.batcher)
        ends.ready = True
        try:
            yield
        finally:
            ends.ready = False
            await ends.batcher.stop()
            loaded.close()

    app = Starlette(
        routes=_routes(ends),
        middleware=[Middleware(CountRequests, metrics=ends.metrics)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # ``…/infer/`` is a 404 that says so, not a redirect
    return app


def worker_app() -> Starlette:
    """The app of one ``--workers`` process (uvicorn's factory): settings from the
    environment, the model loaded again in this process."""
    from pathlib import Path

    settings = ServeSettings.from_env()
    served = load_served(
        Path(settings.run_dir), settings.name, settings.threads, not settings.in_progress
    )
    return create_app(served, settings)
