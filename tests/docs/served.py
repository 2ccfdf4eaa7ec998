"""A ``zenopt serve`` a docs page starts: a real server process on a free port, whose address
the page's later ``curl`` commands are pointed at (the documented one may be taken)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

READY_S = 120.0
_URL = re.compile(r" at (https?://[^/\s]+)")
_DOCUMENTED = re.compile(r"(?:https?://)?(?:localhost|127\.0\.0\.1|0\.0\.0\.0):\d+")


class Served:
    """``zenopt serve ARGS`` started in ``folder`` with ``--port 0``; ``url`` once it serves."""

    def __init__(self, args: list[str], folder: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zenopt", *args, "--port", "0"],
            cwd=folder,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = ""

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # read to the end: the pipe never fills
            self.lines.put(line)
        self.lines.put("")

    def ready(self) -> str:
        """The line that says what it serves; AssertionError with its output otherwise."""
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=READY_S)
            except queue.Empty:
                break
            seen.append(line)
            found = _URL.search(line)
            if line.startswith("serving ") and found:
                self.url = found.group(1)
                return line
            if not line:
                break
        raise AssertionError("".join(seen) or f"no output in {READY_S:.0f} s")

    def point(self, command: str) -> str:
        """A documented address (localhost:8000…) in a command, as this server's."""
        return _DOCUMENTED.sub(self.url.replace("0.0.0.0", "127.0.0.1"), command)

    def stop(self) -> None:
        """SIGTERM, as the serving guide says: it answers what it has and exits 0."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
