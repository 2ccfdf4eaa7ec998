"""The candidate servers of ``bench_serve_stack.py``: one ASGI app per stack, and their processes.

Every candidate server is a real separate process (``bench_serve_stack.py --serve KEY --port N``)
running ``uvicorn.run`` on 127.0.0.1, its own free port, ``log_level="warning"``,
``access_log=False``. Each implements ``POST /v2/models/m/infer`` the same way: parse the body,
turn the one input (shape [1, 1, 28, 28], FP32) into a numpy array, compute a trivial "model"
(``x.sum`` over the image) and answer the v2 response as JSON. Stacks:

    a   Starlette on uvicorn, http="h11", loop="asyncio", stdlib json
    b   Starlette on uvicorn, http="httptools", loop="uvloop", stdlib json
    b+  as b with orjson for decoding and encoding
    c   FastAPI, route taking ``Request`` and reading ``await request.body()``, httptools + uvloop,
        stdlib json
    c+  as c with orjson
    d   FastAPI with a pydantic body model for the v2 request (FastAPI decodes with stdlib json,
        then pydantic validates the 784 floats), httptools + uvloop

Two payloads per stack: ``json`` (the 784 floats in the JSON ``data`` field, about 15 KB) and
``binary`` (Triton's binary tensor extension: a JSON header with ``binary_data_size`` followed by
the raw little-endian float32 bytes, its length in ``Inference-Header-Content-Length``; parsed
with ``np.frombuffer``). Stack d cannot take the binary payload: a pydantic body model makes
FastAPI require a JSON body.
"""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson
import psutil
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HOST = "127.0.0.1"
INFER_PATH = "/v2/models/m/infer"
READY_PATH = "/v2/health/ready"
SHAPE = [1, 1, 28, 28]
N_VALUES = 784
HEADER_LENGTH = "Inference-Header-Content-Length"

Loads = Callable[[bytes], Any]
Dumps = Callable[[Any], bytes]


@dataclass(frozen=True)
class Stack:
    key: str
    label: str
    framework: str  # "starlette", "fastapi" (Request route) or "fastapi-pydantic" (body model)
    http: str
    loop: str
    json_lib: str  # "json" or "orjson"


STACKS = [
    Stack("a", "Starlette · h11 + asyncio · json", "starlette", "h11", "asyncio", "json"),
    Stack("b", "Starlette · httptools + uvloop · json", "starlette", "httptools", "uvloop", "json"),
    Stack(
        "b+",
        "Starlette · httptools + uvloop · orjson",
        "starlette",
        "httptools",
        "uvloop",
        "orjson",
    ),
    Stack(
        "c", "FastAPI Request · httptools + uvloop · json", "fastapi", "httptools", "uvloop", "json"
    ),
    Stack(
        "c+",
        "FastAPI Request · httptools + uvloop · orjson",
        "fastapi",
        "httptools",
        "uvloop",
        "orjson",
    ),
    Stack(
        "d",
        "FastAPI pydantic model · httptools + uvloop",
        "fastapi-pydantic",
        "httptools",
        "uvloop",
        "json",
    ),
]
PAYLOADS = ["json", "binary"]


# ---------------------------------------------------------------- the v2 request model (stack d)


class InferInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[float]
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    id: str | None = None
    inputs: list[InferInput]
    outputs: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------- the server


def codec(json_lib: str) -> tuple[Loads, Dumps]:
    if json_lib == "orjson":
        return orjson.loads, orjson.dumps
    return json.loads, lambda obj: json.dumps(obj).encode()


def model(x: np.ndarray) -> np.ndarray:
    """The trivial "model": one value per image."""
    y: np.ndarray = x.sum(axis=(1, 2, 3), dtype=np.float32)
    return y


def answer(y: np.ndarray, dumps: Dumps) -> bytes:
    out = {"name": "value", "shape": list(y.shape), "datatype": "FP32", "data": y.tolist()}
    return dumps({"model_name": "m", "outputs": [out]})


def tensor_from_body(body: bytes, header_length: str | None, loads: Loads) -> np.ndarray:
    """The input tensor of a v2 request: JSON ``data``, or Triton's binary tensor extension."""
    if header_length is None:
        inp = loads(body)["inputs"][0]
        return np.asarray(inp["data"], dtype=np.float32).reshape(inp["shape"])
    n = int(header_length)
    inp = loads(body[:n])["inputs"][0]
    count = inp["parameters"]["binary_data_size"] // 4
    return np.frombuffer(body, dtype="<f4", count=count, offset=n).reshape(inp["shape"])


async def ready(request: Request) -> Response:
    """Readiness, naming the running event loop so that the parent can check it got uvloop."""
    import asyncio

    loop = type(asyncio.get_running_loop())
    return Response(f"{loop.__module__}.{loop.__qualname__}", media_type="text/plain")


def build_app(stack: Stack) -> Any:
    loads, dumps = codec(stack.json_lib)

    async def infer_raw(request: Request) -> Response:
        body = await request.body()
        x = tensor_from_body(body, request.headers.get(HEADER_LENGTH), loads)
        return Response(answer(model(x), dumps), media_type="application/json")

    if stack.framework == "starlette":
        routes = [
            Route("/v2/models/{model_name}/infer", infer_raw, methods=["POST"]),
            Route(READY_PATH, ready),
        ]
        return Starlette(routes=routes)

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.add_api_route(READY_PATH, ready, methods=["GET"])
    if stack.framework == "fastapi":

        async def infer_fastapi(model_name: str, request: Request) -> Response:
            return await infer_raw(request)

        app.add_api_route("/v2/models/{model_name}/infer", infer_fastapi, methods=["POST"])
    else:

        async def infer_pydantic(model_name: str, body: InferRequest) -> Response:
            inp = body.inputs[0]
            x = np.asarray(inp.data, dtype=np.float32).reshape(inp.shape)
            return Response(answer(model(x), dumps), media_type="application/json")

        app.add_api_route("/v2/models/{model_name}/infer", infer_pydantic, methods=["POST"])
    return app


def serve(key: str, port: int) -> None:
    import uvicorn

    stack = next(s for s in STACKS if s.key == key)
    uvicorn.run(
        build_app(stack),
        host=HOST,
        port=port,
        http=stack.http,
        loop=stack.loop,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=120,  # keep the idle client connections between visits
    )


# --------------------------------------------------------------------- the requests they take


@dataclass(frozen=True)
class Payload:
    body: bytes
    headers: dict[str, str]


def payloads(x: np.ndarray) -> dict[str, Payload]:
    """The same tensor as a v2 JSON request and as a Triton binary-extension request."""
    values = x.reshape(-1).tolist()
    plain = {"inputs": [{"name": "input", "shape": SHAPE, "datatype": "FP32", "data": values}]}
    raw = x.astype("<f4").tobytes()
    params = {"binary_data_size": len(raw)}
    header = {
        "inputs": [{"name": "input", "shape": SHAPE, "datatype": "FP32", "parameters": params}]
    }
    head = json.dumps(header).encode()
    return {
        "json": Payload(json.dumps(plain).encode(), {"Content-Type": "application/json"}),
        "binary": Payload(
            head + raw,
            {"Content-Type": "application/octet-stream", HEADER_LENGTH: str(len(head))},
        ),
    }


def post(client: httpx.Client, url: str, payload: Payload) -> httpx.Response:
    response = client.post(url, content=payload.body, headers=payload.headers)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
    return response


# ------------------------------------------------------------------------ the server processes


def new_client() -> httpx.Client:
    return httpx.Client(http1=True, http2=False, trust_env=False, timeout=30.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    stack: Stack
    port: int
    process: subprocess.Popen[bytes]
    loop_name: str = ""

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_s(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


def start_servers(script: str) -> list[Server]:
    """One process per stack, ``script --serve KEY --port N`` (a script that calls
    :func:`serve`), and wait until every one answers its readiness route."""
    servers = []
    for stack in STACKS:
        port = free_port()
        cmd = [sys.executable, script, "--serve", stack.key, "--port", str(port)]
        servers.append(Server(stack, port, subprocess.Popen(cmd)))
    deadline = time.monotonic() + 60
    with new_client() as client:
        for server in servers:
            while True:
                if server.process.poll() is not None:
                    raise RuntimeError(f"server {server.stack.key} exited")
                try:
                    server.loop_name = client.get(server.url + READY_PATH).text
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
    return servers


def check_answers(servers: list[Server], data: dict[str, Payload], expected: float) -> None:
    """Every server answers both payloads (d: only JSON) with the right v2 response."""
    with new_client() as client:
        for server in servers:
            for name in PAYLOADS:
                if (server.stack.key, name) == ("d", "binary"):
                    continue
                out = post(client, server.url + INFER_PATH, data[name]).json()
                value = out["outputs"][0]["data"][0]
                if out["model_name"] != "m" or abs(value - expected) > 1e-3 * abs(expected):
                    raise RuntimeError(f"{server.stack.key}/{name}: wrong answer {out}")


def stop_servers(servers: list[Server]) -> None:
    for server in servers:
        server.process.terminate()
    for server in servers:
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
