"""A ``zenopt serve`` process on a free loopback port: started, read until its startup line,
waited for until ready, stopped with SIGTERM. The serve stage measures through it, and the
serving tests drive it.

Its standard error is read to the end by a thread of its own, so a server that logs a lot
never blocks on a full pipe, and everything it said stays at hand.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from zenopt.core.errors import RuntimeBackendError

__all__ = ["ServerProcess", "served"]

_URL = re.compile(r"(http://[^\s/]+:\d+)(/v2/models/\S+)")


@dataclass
class ServerProcess:
    process: subprocess.Popen[str]
    url: str  # http://127.0.0.1:PORT
    model_url: str  # …/v2/models/NAME
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


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)


def _ready(process: subprocess.Popen[str], lines: list[str], ready_s: float) -> ServerProcess:
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            time.sleep(0.2)  # let the reader take the last lines
            said = "".join(lines).strip()
            raise RuntimeBackendError(f"zenopt serve exited {process.returncode}: {said}")
        found = next((_URL.search(line) for line in lines if line.startswith("serving ")), None)
        if found is not None:
            try:
                if httpx.get(f"{found.group(0)}/ready", timeout=5).status_code == 200:
                    startup = next(line for line in lines if line.startswith("serving "))
                    url = found.group(1)
                    return ServerProcess(process, url, found.group(0), startup.strip(), lines)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    said = "".join(lines).strip()
    raise RuntimeBackendError(f"zenopt serve was not ready after {ready_s:g} s: {said}")


@contextmanager
def served(path: Path, *options: str, ready_s: float = 60.0) -> Iterator[ServerProcess]:
    """``zenopt serve PATH --port 0 OPTIONS``, once ready; SIGTERM when done (and a kill if
    that did not stop it)."""
    command = [sys.executable, "-m", "zenopt", "serve", str(path), "--port", "0", *options]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "250"}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=_drain, args=(process, lines), daemon=True).start()
    try:
        yield _ready(process, lines, ready_s)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
