"""One timing at a time per host, and no timing beside training: a readers–writer file lock.

Training holds the host lock *shared* for one epoch at a time; every timed section holds it
*exclusively*. Runs training side by side share it; a timing waits for the epochs in flight to
end, and while it waits no new epoch starts (writer preference), so a timer is never starved by
trainers that take the lock again every epoch.

The lock is two files locked with ``fcntl.flock``, which the kernel releases when a process
dies, so a crash leaves nothing to clean up:

1. Anyone who wants the lock first takes the gate file (``<path>.gate``) exclusively.
2. Holding the gate, a reader takes the main file (``<path>``) shared, a writer exclusively.
3. As soon as the main file is held, the gate is released.

So the gate is held only while waiting for the main file: its holder is next in line. A writer
waiting for readers holds the gate, and new readers queue behind it instead of joining the
readers it waits for; it waits for at most the epochs already running. Releasing the gate once
the main file is held (not at the end of the section) lets the next process, reader or writer,
line up during the section: the lock then alternates, and neither timers nor trainers starve.

Within a process the lock is re-entrant: an exclusive or shared request while this process holds
it exclusively is a no-op, and so is a shared request while it holds it shared. An exclusive
request while holding it shared (a timing inside an epoch; no caller does this today) releases
the shared hold, takes the exclusive one, and takes the shared one back afterwards, rather than
deadlocking against itself. Re-entrancy is per process, not per thread: zenopt times on one
thread, and threads of a process share its hold (a ``threading.Lock`` keeps the bookkeeping
consistent). Files are opened per acquisition and closed on release: no descriptor stays open
between sections, and a lock file a temp cleaner removed is made again. A child forked inside a
section forgets the parent's hold (it must not release it) and, if it takes the lock itself,
waits for the parent's section to end: so a child a timed section starts takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from zenopt.core.errors import ConfigError

__all__ = [
    "ENV_VAR",
    "HostLock",
    "configure_host_lock",
    "configured_lock_path",
    "host_lock",
    "host_lock_stats",
    "reset_host_lock_stats",
    "timing_section",
    "training_epoch",
]

ENV_VAR = "ZENOPT_HOST_LOCK"
FILE_NAME = "zenopt-host.lock"
OFF = "off"
Kind = Literal["shared", "exclusive"]


@dataclass
class _Waits:
    """Real acquisitions of one kind (re-entrant no-ops excluded) and the time spent waiting."""

    acquisitions: int = 0
    waited_s: float = 0.0
    longest_wait_s: float = 0.0

    def add(self, seconds: float) -> None:
        self.acquisitions += 1
        self.waited_s += seconds
        self.longest_wait_s = max(self.longest_wait_s, seconds)


class HostLock:
    """The readers–writer lock at ``path`` (``None``: off, every section is a no-op);
    ``source`` names where the path came from, for error messages."""

    def __init__(self, path: Path | None, source: str = "bench.host_lock") -> None:
        self.path = path
        self.source = source
        self._state = threading.Lock()
        self._main: int | None = None  # the main file's descriptor while it is held
        self._exclusive = 0  # depth of exclusive sections in this process
        self._shared = 0  # depth of shared sections in this process
        self._waits: dict[Kind, _Waits] = {"shared": _Waits(), "exclusive": _Waits()}

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def check(self) -> None:
        """Create both files (0o666) or open them: a ConfigError now rather than mid-run."""
        if self.path is not None:
            for path in (self._gate_path(), self.path):
                os.close(self._open(path))

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock exclusively: a timed section."""
        if self.path is None:
            yield
            return
        with self._state:
            outer = self._exclusive == 0
            upgrade = outer and self._shared > 0
            if upgrade:
                self._release()
            if outer:
                self._acquire(fcntl.LOCK_EX, "exclusive")
            self._exclusive += 1
        try:
            yield
        finally:
            with self._state:
                self._exclusive -= 1
                if self._exclusive == 0:
                    self._release()
                    if upgrade:
                        self._acquire(fcntl.LOCK_SH, "shared")

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock shared: one training epoch."""
        if self.path is None:
            yield
            return
        with self._state:
            if self._shared == 0 and self._exclusive == 0:
                self._acquire(fcntl.LOCK_SH, "shared")
            self._shared += 1
        try:
            yield
        finally:
            with self._state:
                self._shared -= 1
                if self._shared == 0 and self._exclusive == 0:
                    self._release()

    def stats(self) -> dict[str, Any]:
        """Where the lock is, and per kind: acquisitions, seconds waited, the longest wait."""
        with self._state:
            return {
                "path": None if self.path is None else str(self.path),
                "source": self.source,
                **{kind: asdict(waits) for kind, waits in self._waits.items()},
            }

    def reset_stats(self) -> None:
        with self._state:
            self._waits = {"shared": _Waits(), "exclusive": _Waits()}

    def _gate_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".gate")

    def _acquire(self, mode: int, kind: Kind) -> None:
        assert self.path is not None
        start = time.monotonic()
        gate = self._open(self._gate_path())
        try:
            fcntl.flock(gate, fcntl.LOCK_EX)
            main = self._open(self.path)
            try:
                fcntl.flock(main, mode)
            except BaseException:  # Ctrl-C while waiting: nothing stays locked
                os.close(main)
                raise
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
            os.close(gate)
        self._main = main
        self._waits[kind].add(time.monotonic() - start)

    def _release(self) -> None:
        if self._main is not None:
            fcntl.flock(self._main, fcntl.LOCK_UN)
            os.close(self._main)
            self._main = None

    def _open(self, path: Path) -> int:
        """Open ``path`` for flock, creating it readable and writable by every user: the
        umask is undone with fchmod. An existing file is opened without O_CREAT, which a
        sticky world-writable folder (fs.protected_regular) refuses for another user's file,
        and read-only when it is not writable (flock needs no write access)."""
        try:
            try:
                return os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except PermissionError:
                return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                pass
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            except FileExistsError:  # another process created it just now
                return os.open(path, os.O_RDWR | os.O_CLOEXEC)
            os.fchmod(fd, 0o666)
            return fd
        except OSError as exc:
            raise ConfigError(
                f"{self.source}: cannot use the host lock file {path} "
                f"({exc.strerror or type(exc).__name__}); set bench.host_lock (or ${ENV_VAR}) "
                f"to a file in a folder you can write, or to {OFF!r} to time without the lock"
            ) from None


_LOCKS: dict[Path | None, HostLock] = {}
_LOCKS_GUARD = threading.Lock()
_configured: str | None = None


def _resolve(value: str | None) -> tuple[Path | None, str]:
    """The lock file a ``bench.host_lock`` value names, and where the value came from."""
    source = "bench.host_lock"
    if value is None or not value.strip():
        value = os.environ.get(ENV_VAR, "").strip() or None
        source = f"${ENV_VAR}"
    if value is None:
        return Path(tempfile.gettempdir()) / FILE_NAME, "the system temp folder"
    if value.strip().lower() == OFF:
        return None, source
    path = Path(os.path.abspath(Path(value).expanduser()))
    return (path / FILE_NAME if path.is_dir() else path), source


def host_lock(value: str | None) -> HostLock:
    """The process's lock for a ``bench.host_lock`` value: a path (a folder gets
    ``zenopt-host.lock`` in it), ``"off"``, or None for ``$ZENOPT_HOST_LOCK``, else the system
    temp folder. One object per file; its files are created (or checked) on first use."""
    path, source = _resolve(value)
    with _LOCKS_GUARD:
        lock = _LOCKS.get(path)
        if lock is None:
            lock = HostLock(path, source)
            lock.check()
            _LOCKS[path] = lock
        return lock


def configure_host_lock(value: str | None) -> HostLock:
    """Set the lock this process's timings and epochs use (``config.bench.host_lock``), check
    that its files can be used, and reset its waits: called once at the start of a run."""
    global _configured
    lock = host_lock(value)
    _configured = value
    lock.reset_stats()
    return lock


def timing_section() -> contextlib.AbstractContextManager[None]:
    """Hold the configured host lock exclusively for a timed section."""
    return host_lock(_configured).exclusive()


def configured_lock_path() -> str | None:
    """The configured lock's file, or None when it is off (for a child process that trains:
    it takes the same lock, per epoch)."""
    path = host_lock(_configured).path
    return None if path is None else str(path)


def training_epoch() -> contextlib.AbstractContextManager[None]:
    """Hold the configured host lock shared for one training epoch."""
    return host_lock(_configured).shared()


def host_lock_stats() -> dict[str, Any]:
    """The configured lock's path and, per kind (``shared``, ``exclusive``), its acquisitions,
    ``waited_s`` and ``longest_wait_s`` since it was configured or reset: for the manifest."""
    return host_lock(_configured).stats()


def reset_host_lock_stats() -> None:
    host_lock(_configured).reset_stats()


def _forget_in_child() -> None:
    """A forked child shares the parent's open lock descriptions: unlocking them would unlock
    the parent. The child closes its copies (the parent's hold stays) and starts unlocked."""
    global _LOCKS_GUARD
    _LOCKS_GUARD = threading.Lock()
    for lock in _LOCKS.values():
        if lock._main is not None:
            os.close(lock._main)
        lock._main, lock._exclusive, lock._shared = None, 0, 0
        lock._state = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
