"""A thread budget per host: the zenopt processes working on one study from one machine divide
its cores for training, instead of each training with all of them.

Each process registers itself in the study (host, pid, the threads it trains with) at every
trial; its training threads are then this host's cores (as many as the library would use
alone: its physical cores, or ``OMP_NUM_THREADS``) divided by the live zenopt processes
registered from it (a process is live while its pid is), unless ``tune.threads`` (``zenopt
worker --threads``) says otherwise. Timed sections never use this share: they set their own
thread count, the deployment's (``bench.threads``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ATTR_PROCESS", "ThreadBudget", "host_cores", "live_processes"]

ATTR_PROCESS = "zenopt_process:"  # + host:pid, a study user attribute per process


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _started(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot; Linux), to tell it from a later process
    that was given the same pid; None where /proc does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, started: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return started is None or _started(pid) in (None, started)


def live_processes(study: Any, host: str) -> dict[str, dict[str, Any]]:
    """The zenopt processes registered in ``study`` from ``host`` that are still running and
    still working on it, by ``host:pid``."""
    live = {}
    for key, entry in study.user_attrs.items():
        if not key.startswith(ATTR_PROCESS) or not isinstance(entry, dict):
            continue
        alive = _alive(int(entry["pid"]), entry.get("started"))
        if entry.get("host") == host and not entry.get("left") and alive:
            live[key.removeprefix(ATTR_PROCESS)] = entry
    return live


@dataclass
class ThreadBudget:
    """This process's share of its host's cores for training, recomputed at each trial.

    ``explicit``: ``tune.threads``, which wins; ``note``: where a warning goes (the console).
    """

    explicit: int | None = None
    note: Callable[[str], None] | None = None
    warned: bool = False
    previous: int | None = None

    @property
    def me(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def apply(self, study: Any) -> int:
        """Register this process, set torch's training threads to its share; the share."""
        import torch

        host, cores = socket.gethostname(), host_cores()
        if self.previous is None:  # the library's own count (physical cores, OMP_NUM_THREADS)
            self.previous = torch.get_num_threads()
        share, others = self._share(study)
        pid = os.getpid()
        entry = {"host": host, "pid": pid, "started": _started(pid), "threads": share}
        study.set_user_attr(ATTR_PROCESS + self.me, {**entry, "cores": cores, "at": time.time()})
        torch.set_num_threads(share)
        self._warn(
            host,
            cores,
            len(others) + 1,
            share + sum(int(v.get("threads", 1)) for v in others.values()),
        )
        return share

    def _share(self, study: Any) -> tuple[int, dict[str, dict[str, Any]]]:
        """This process's threads, and the other live processes on this host."""
        others = live_processes(study, socket.gethostname())
        others.pop(self.me, None)
        capacity = min(host_cores(), self.previous or host_cores())
        return self.explicit or max(1, capacity // (len(others) + 1)), others

    def _warn(self, host: str, cores: int, processes: int, threads: int) -> None:
        """Once: more training threads than cores. Shares never add up to more unless there
        are more processes than cores, or a process sets its own (what the others registered
        may lag by a trial as they shrink to their share, so only that counts then)."""
        if self.warned or self.note is None:
            return
        if self.explicit is not None and threads > cores:
            fix = "leave tune.threads unset (each process takes its share) or lower --threads"
        elif self.explicit is None and processes > min(cores, self.previous or cores):
            fix = f"start at most {min(cores, self.previous or cores)} zenopt processes here"
            threads = processes
        else:
            return
        self.warned = True
        self.note(
            f"{processes} zenopt processes on {host} train with {threads} threads on {cores} "
            f"cores, which slows every one of them; {fix}"
        )

    def refresh(self, study: Any) -> None:
        """Between epochs: take up the cores a process that left gave back (or give some
        back to one that joined), without re-registering unless the share changed."""
        import torch

        if self.previous is None or self.explicit is not None:
            return
        if self._share(study)[0] != torch.get_num_threads():
            self.apply(study)

    def leave(self, study: Any) -> None:
        """This process works on the study no more: its cores go back to the others."""
        import torch

        if self.previous is None:
            return
        entry = study.user_attrs.get(ATTR_PROCESS + self.me) or {}
        study.set_user_attr(ATTR_PROCESS + self.me, {**entry, "left": True, "at": time.time()})
        torch.set_num_threads(self.previous)
        self.previous = None
