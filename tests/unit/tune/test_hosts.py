"""The thread budget per host: a process trains with this host's cores divided by the live
zenopt processes registered in the study from it; --threads wins; oversubscription warns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from zenopt.tune import hosts
from zenopt.tune.hosts import ATTR_PROCESS, ThreadBudget, host_cores


@pytest.fixture
def study(tmp_path: Path) -> Any:
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")


@pytest.fixture
def sleepers() -> Iterator[list[int]]:
    procs = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(3)
    ]
    yield [p.pid for p in procs]
    for proc in procs:
        proc.kill()
        proc.wait()


def _register(
    study: Any, pid: int, threads: int = 1, host: str | None = None, **extra: Any
) -> None:
    host = host or socket.gethostname()
    study.set_user_attr(
        f"{ATTR_PROCESS}{host}:{pid}", {"host": host, "pid": pid, "threads": threads, **extra}
    )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_share_divides_this_hosts_cores_among_live_processes(
    study: Any, sleepers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hosts, "host_cores", lambda: 4)  # not this machine's: fixed in the test
    before = torch.get_num_threads()
    torch.set_num_threads(4)  # the library's own count, as on a 4-core machine
    cores, notes = 4, []
    budget = ThreadBudget(note=notes.append)
    assert budget.apply(study) == cores  # alone on the host
    _register(study, sleepers[0])
    _register(study, _dead_pid(), threads=8)  # its process is gone
    _register(study, sleepers[1], threads=8, host="elsewhere")  # another machine
    _register(study, sleepers[2], threads=8, left=True)  # done with the study
    share = budget.apply(study)
    assert share == 2 and torch.get_num_threads() == share
    entry = study.user_attrs[f"{ATTR_PROCESS}{socket.gethostname()}:{os.getpid()}"]
    assert entry["threads"] == share and entry["cores"] == cores
    assert notes == []  # 2 + 1 threads on 4 cores
    # a neighbour that registered all 4 threads while alone shrinks at its next trial:
    # joining it is no oversubscription to warn about
    _register(study, sleepers[0], threads=4)
    budget.apply(study)
    assert notes == []
    budget.leave(study)
    assert torch.get_num_threads() == 4  # given back as it was
    torch.set_num_threads(before)
    assert study.user_attrs[f"{ATTR_PROCESS}{socket.gethostname()}:{os.getpid()}"]["left"]


def test_explicit_threads_win_and_oversubscription_warns_once(
    study: Any, sleepers: list[int]
) -> None:
    cores, notes = host_cores(), []
    for pid in sleepers:
        _register(study, pid, threads=cores)
    budget = ThreadBudget(explicit=cores, note=notes.append)
    try:
        assert budget.apply(study) == cores
        budget.apply(study)
    finally:
        budget.leave(study)
    assert len(notes) == 1
    assert (
        f"4 zenopt processes on {socket.gethostname()} train with {4 * cores} threads" in notes[0]
    )
    assert "lower --threads" in notes[0]


def test_more_processes_than_cores_says_to_start_fewer(
    study: Any, sleepers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hosts, "host_cores", lambda: 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the library's own count on a 2-core machine, whatever ran before
    cores, notes = 2, []
    for pid in sleepers:
        _register(study, pid)
    budget = ThreadBudget(note=notes.append)
    try:
        assert budget.apply(study) == 1
    finally:
        budget.leave(study)
        torch.set_num_threads(before)
    assert notes and f"start at most {cores} zenopt processes here" in notes[0]


def test_between_epochs_the_share_follows_processes_that_leave(
    study: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hosts, "host_cores", lambda: 4)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    neighbour = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    budget = ThreadBudget()
    try:
        _register(study, neighbour.pid, threads=2)
        assert budget.apply(study) == 2
        budget.refresh(study)
        assert torch.get_num_threads() == 2  # nothing changed
        neighbour.kill()
        neighbour.wait()
        budget.refresh(study)  # its cores come back mid-trial, at the next epoch
        assert torch.get_num_threads() == 4
        mine = study.user_attrs[f"{ATTR_PROCESS}{socket.gethostname()}:{os.getpid()}"]
        assert mine["threads"] == 4
    finally:
        budget.leave(study)
        torch.set_num_threads(before)
