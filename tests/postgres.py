"""A throw-away PostgreSQL server for tests: initdb + pg_ctl in a temporary folder, stopped and
deleted afterwards. As root, the server runs as the ``postgres`` user (initdb refuses root)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def available() -> bool:
    return all(shutil.which(tool) for tool in ("initdb", "pg_ctl", "postgres"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid}
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a fresh server (trust authentication, loopback only)."""
    folder = Path(tempfile.mkdtemp(prefix="zenopt-pg-"))
    user = _run_as()
    if user:
        os.chown(folder, user["user"], user["group"])
    data = folder / "data"
    port = _free_port()
    log = folder / "server.log"
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    try:
        subprocess.run(
            ["initdb", "-D", str(data), "-U", "zenopt", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            env=env,
            **user,
        )
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=60 -c fsync=off"
        subprocess.run(
            ["pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
            check=True,
            capture_output=True,
            env=env,
            **user,
        )
        try:
            yield f"postgresql://zenopt@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                ["pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                env=env,
                **user,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
