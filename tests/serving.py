"""A real ``zenopt serve`` process on a free loopback port, for the serving tests."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    startup: str  # the startup line
    lines: list[str] = field(default_factory=list)  # everything it wrote to stderr

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def _read(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)


@contextmanager
def served(path: Path, *options: str, ready_s: float = 60.0) -> Iterator[Server]:
    """``zenopt serve PATH --port 0 OPTIONS``, once ready; SIGTERM when done (and a kill if
    that did not stop it)."""
    command = [sys.executable, "-m", "zenopt", "serve", str(path), "--port", "0", *options]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=_read, args=(process, lines), daemon=True).start()
    try:
        server = _wait_ready(process, lines, ready_s)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[str], lines: list[str], ready_s: float) -> Server:
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            time.sleep(0.2)  # let the reader thread take the last lines
            raise AssertionError(f"zenopt serve exited {process.returncode}: {''.join(lines)}")
        startup = next((line for line in lines if line.startswith("serving ")), None)
        if startup is not None:
            port = startup.split("http://127.0.0.1:")[1].split("/")[0]
            url = f"http://127.0.0.1:{port}"
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200:
                    return Server(process, url, startup.strip(), lines)
            except httpx.TransportError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"zenopt serve not ready after {ready_s} s: {''.join(lines)}")


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
