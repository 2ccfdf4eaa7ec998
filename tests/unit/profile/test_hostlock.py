"""The host lock: real processes for exclusion and writer preference, one process for the rest.

The processes load ``hostlock.py`` by its file path (the ``zenopt.profile`` package imports
torch, seconds per process on a busy machine) and record their held intervals with
``time.monotonic``, one clock for every process of the host on Linux.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zenopt.profile.hostlock as hostlock
from zenopt.core.errors import ConfigError
from zenopt.profile.hostlock import HostLock, configure_host_lock, host_lock, host_lock_stats
from zenopt.profile.latency import measure_calls

# role lock out count hold delay [after]: "reader" holds shared for ``hold`` s per epoch until
# the file ``after`` exists, then two epochs more (``count`` epochs at most); "writer" waits for
# ``after`` (a reader's first hold), holds exclusively ``count`` times, then leaves ``out.done``.
# Every process first leaves ``out.ready``, and starts ``delay`` s after ``go`` (next to the
# lock) appears.
SCRIPT = r"""
import importlib.util, json, os, sys, time
spec = importlib.util.spec_from_file_location("hostlock_under_test", sys.argv[1])
hostlock = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = hostlock
spec.loader.exec_module(hostlock)
role, lock_path, out, count, hold, delay = sys.argv[2:8]
after = sys.argv[8] if len(sys.argv) > 8 else None
count, hold = int(count), float(hold)
lock = hostlock.host_lock(lock_path)
open(out + ".ready", "w").close()
go = os.path.join(os.path.dirname(lock_path), "go")
while not os.path.exists(go):
    time.sleep(0.002)
time.sleep(float(delay))
intervals = []
if role == "reader":
    extra = None
    while len(intervals) < count and (extra is None or extra > 0):
        with lock.shared():
            start = time.monotonic()
            if not intervals:
                open(out + ".held", "w").close()
            time.sleep(hold)
            intervals.append([start, time.monotonic()])
        if extra is None and os.path.exists(after):
            extra = 2
        elif extra is not None:
            extra -= 1
else:
    while after and not os.path.exists(after):
        time.sleep(0.002)
    for _ in range(count):
        asked = time.monotonic()
        with lock.exclusive():
            start = time.monotonic()
            time.sleep(hold)
            intervals.append([start, time.monotonic(), asked])
    open(out + ".done", "w").close()
with open(out, "w") as f:
    json.dump({"intervals": intervals, "stats": lock.stats()}, f)
"""


Role = tuple[str, str, int, float, float, str | None]  # role, name, count, hold, delay, after


def _spawn(tmp_path: Path, roles: list[Role]) -> list[dict[str, Any]]:
    """Start one process per role, let them go together, and return what each recorded."""
    lock = tmp_path / "host.lock"
    procs = []
    for role, name, count, hold, delay, after in roles:
        argv = [sys.executable, "-c", SCRIPT, hostlock.__file__, role, str(lock)]
        argv += [str(tmp_path / name), str(count), str(hold), str(delay)]
        argv += [] if after is None else [str(tmp_path / after)]
        procs.append(subprocess.Popen(argv))
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"{r[1]}.ready").exists() for r in roles):
        assert time.monotonic() < deadline, "the lock processes did not start"
        assert all(p.poll() is None for p in procs), "a lock process failed to start"
        time.sleep(0.005)
    (tmp_path / "go").touch()
    for proc in procs:
        assert proc.wait(timeout=30) == 0
    return [json.loads((tmp_path / r[1]).read_text()) for r in roles]


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _state(path: Path) -> str:
    """How another process sees the lock file now: free, shared or exclusive."""
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return "free"
        except BlockingIOError:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return "shared"
            except BlockingIOError:
                return "exclusive"
    finally:
        os.close(fd)


def test_writer_excludes_readers_and_gets_in_while_they_keep_reacquiring(
    tmp_path: Path,
) -> None:
    # Two readers whose epochs are half an epoch apart always leave the file held shared:
    # without writer preference the writer would wait for both loops (100 epochs each) to end.
    r1, r2, w = _spawn(
        tmp_path,
        [
            ("reader", "r1", 100, 0.05, 0.0, "w.done"),
            ("reader", "r2", 100, 0.05, 0.025, "w.done"),
            ("writer", "w", 1, 0.1, 0.0, "r1.held"),
        ],
    )
    (timed,) = w["intervals"]
    epochs = r1["intervals"] + r2["intervals"]
    assert not [e for e in epochs if _overlap(e, timed)]
    assert len(r1["intervals"]) < 100 and len(r2["intervals"]) < 100
    assert [e for e in epochs if e[0] >= timed[1]]  # the readers went on after the timing
    assert w["stats"]["exclusive"]["acquisitions"] == 1


def test_two_writers_never_overlap(tmp_path: Path) -> None:
    a, b = _spawn(
        tmp_path, [("writer", "a", 5, 0.03, 0.0, None), ("writer", "b", 5, 0.03, 0.0, None)]
    )
    assert not [(x, y) for x in a["intervals"] for y in b["intervals"] if _overlap(x, y)]


def test_nested_sections_take_the_files_once(tmp_path: Path) -> None:
    path = tmp_path / "host.lock"
    lock = HostLock(path)
    with lock.exclusive():
        with lock.exclusive(), lock.shared():
            assert _state(path) == "exclusive"
        assert _state(path) == "exclusive"
    assert _state(path) == "free"
    stats = lock.stats()
    assert (stats["exclusive"]["acquisitions"], stats["shared"]["acquisitions"]) == (1, 0)


def test_exclusive_inside_shared_upgrades_and_goes_back(tmp_path: Path) -> None:
    path = tmp_path / "host.lock"
    lock = HostLock(path)
    with lock.shared():
        assert _state(path) == "shared"
        with lock.exclusive():
            assert _state(path) == "exclusive"
        assert _state(path) == "shared"
    assert _state(path) == "free"


def test_a_pruned_trial_or_ctrl_c_leaves_nothing_held(tmp_path: Path) -> None:
    path = tmp_path / "host.lock"
    lock = HostLock(path)
    with pytest.raises(KeyboardInterrupt), lock.shared(), lock.exclusive():
        raise KeyboardInterrupt
    assert _state(path) == "free"
    with lock.exclusive():  # and the bookkeeping is back at zero
        assert _state(path) == "exclusive"


@pytest.mark.parametrize("how", ["config", "env"])
def test_off_does_nothing(how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if how == "env":
        monkeypatch.setenv("ZENOPT_HOST_LOCK", "off")
    lock = host_lock("off" if how == "config" else None)
    with lock.exclusive(), lock.shared():
        pass
    assert not lock.enabled
    assert lock.stats()["exclusive"]["acquisitions"] == 0
    assert list(tmp_path.iterdir()) == []


def test_waits_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "host.lock"
    lock, other = HostLock(path), HostLock(path)  # two holders, as two processes would be
    held = threading.Event()

    def hold() -> None:
        with other.exclusive():
            held.set()
            time.sleep(0.3)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    with lock.shared():
        pass
    thread.join()
    with lock.exclusive():
        pass
    stats = lock.stats()
    assert stats["shared"]["acquisitions"] == 1
    assert stats["shared"]["waited_s"] >= 0.25
    assert stats["shared"]["longest_wait_s"] == stats["shared"]["waited_s"]
    assert stats["exclusive"]["acquisitions"] == 1
    lock.reset_stats()
    assert lock.stats()["shared"] == {"acquisitions": 0, "waited_s": 0.0, "longest_wait_s": 0.0}


def test_files_are_usable_by_every_user(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        host_lock(str(tmp_path))  # a folder: the lock file goes in it
    finally:
        os.umask(previous)
    for name in ("zenopt-host.lock", "zenopt-host.lock.gate"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666


def test_unusable_folder_is_one_config_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").touch()
    with pytest.raises(ConfigError, match=r"^bench.host_lock: cannot use the host lock file") as e:
        host_lock(str(tmp_path / "a-file" / "host.lock"))
    assert "\n" not in str(e.value) and "'off'" in str(e.value)


def test_timed_calls_hold_the_configured_lock(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    configure_host_lock(str(path))
    seen: list[str] = []
    measure_calls(lambda x: seen.append(_state(path)), np.zeros((1, 2)), 1, 2)
    assert seen == ["exclusive"] * 3
    stats = host_lock_stats()
    assert stats["path"] == str(path) and stats["exclusive"]["acquisitions"] == 1
    configure_host_lock(str(path))  # a new run starts its record afresh
    assert host_lock_stats()["exclusive"]["acquisitions"] == 0
