"""For the serving tests: a real ``zenopt serve`` process on a free loopback port
(:func:`zenopt.serve.process.served`), a stub Starlette app on uvicorn in a process of its
own (:func:`stub_server`), and Triton's model-config protobuf."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zenopt.serve.process import ServerProcess, served

__all__ = ["ServerProcess", "served", "stub_server", "triton_model_config"]

_SERVE = """
import socket
import uvicorn
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
"""


@contextmanager
def stub_server(app_code: str, probe: str) -> Iterator[str]:
    """``app_code`` (Python defining a Starlette ``app``) served by uvicorn on a free loopback
    port in a process of its own; its base URL once ``POST {url}{probe}`` answers. Killed
    after (a stalled request would hold a graceful stop)."""
    import httpx

    code = app_code + _SERVE
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = f"http://127.0.0.1:{process.stdout.readline().strip()}"
    for _ in range(100):
        try:
            httpx.post(url + probe, content=b"{}")
            break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.kill()
        process.wait(10)


def triton_model_config() -> Any:
    """Triton's ModelConfig message, from the generated module tritonclient ships (loaded by
    path: importing tritonclient.grpc needs grpcio, which only that client uses)."""
    import tritonclient

    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
