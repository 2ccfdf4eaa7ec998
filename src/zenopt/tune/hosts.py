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
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ATTR_PROCESS", "ThreadBudget", "host_cores", "live_processes"]

ATTR_PROCESS = "zenopt_process:"  # + host:pid, a study user attribute per process


def host_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def live_processes(study: Any, host: str) -> dict[str, dict[str, Any]]:
    """The zenopt processes registered in ``study`` from ``host`` that are still running and
    still working on it, by ``host:pid``."""
    live = {}
    for key, entry in study.user_attrs.items():
        if not key.startswith(ATTR_PROCESS) or not isinstance(entry, dict):
            continue
        if entry.get("host") == host and not entry.get("left") and _alive(int(entry["pid"])):
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
    history: list[int] = field(default_factory=list)

    @property
    def me(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def apply(self, study: Any) -> int:
        """Register this process, set torch's training threads to its share; the share."""
        import torch

        host, cores = socket.gethostname(), host_cores()
        if self.previous is None:  # the library's own count (physical cores, OMP_NUM_THREADS)
            self.previous = torch.get_num_threads()
        others = {k: v for k, v in live_processes(study, host).items() if k != self.me}
        share = self.explicit or max(1, min(cores, self.previous) // (len(others) + 1))
        entry = {"host": host, "pid": os.getpid(), "threads": share, "cores": cores}
        study.set_user_attr(ATTR_PROCESS + self.me, {**entry, "at": time.time()})
        torch.set_num_threads(share)
        self.history.append(share)
        total = share + sum(int(v.get("threads", 1)) for v in others.values())
        if total > cores and not self.warned and self.note is not None:
            self.warned = True
            fix = (
                f"start at most {cores} zenopt processes on this host"
                if total == len(others) + 1  # one thread each already
                else "leave tune.threads unset (each process takes its share) or lower --threads"
            )
            self.note(
                f"{len(others) + 1} zenopt processes on {host} train with {total} threads on "
                f"{cores} cores, which slows every one of them; {fix}"
            )
        return share

    def refresh(self, study: Any) -> None:
        """Between epochs: take up the cores a process that left gave back (or give some
        back to one that joined), without re-registering unless the share changed."""
        import torch

        if self.previous is None or self.explicit is not None:
            return
        others = live_processes(study, socket.gethostname())
        others.pop(self.me, None)
        share = max(1, min(host_cores(), self.previous) // (len(others) + 1))
        if share != torch.get_num_threads():
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
