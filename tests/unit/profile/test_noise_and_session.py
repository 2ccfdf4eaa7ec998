"""The interleaved session's arithmetic against SciPy, the cautious-end rule, and the noise
guard: firing on an injected reading and on a real CPU hog, silent on a quiet reading."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats
from tests.load_probes import FakeProbe

from zenopt.evaluate.requirements import cautious_check
from zenopt.profile.noise import NoiseLimits, SystemProbe, wait_until_quiet
from zenopt.profile.session import log_interval


@pytest.mark.parametrize(
    "values", [[9.1, 10.4, 9.8, 10.0, 12.3, 9.5, 10.1], [2.0, 2.2], [1.0, 4.0]]
)
def test_the_interval_is_scipy_s_t_interval_of_the_logs_taken_back(values: list[float]) -> None:
    got = log_interval(values)
    logs = np.log(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=logs.mean(), scale=stats.sem(logs))
    assert got.low == pytest.approx(math.exp(low)) and got.high == pytest.approx(math.exp(high))
    assert got.median == pytest.approx(float(np.median(values)))
    assert got.spread == pytest.approx(math.sqrt(got.high / got.low) - 1)
    assert got.low <= math.exp(logs.mean()) <= got.high


def test_one_round_gives_no_interval_and_bad_values_are_refused() -> None:
    one = log_interval([3.0])
    assert (one.low, one.median, one.high, one.spread) == (3.0, 3.0, 3.0, 0.0)
    with pytest.raises(ValueError):
        log_interval([1.0, 0.0])


@pytest.mark.parametrize(
    ("name", "target", "met"),
    [
        ("min_latency_speedup", 9.0, True),  # below the whole interval
        ("min_latency_speedup", 10.0, False),  # inside it: the lower end decides
        ("min_latency_speedup", 12.0, False),
        ("max_latency_ms", 12.0, True),  # above the whole interval
        ("max_latency_ms", 10.0, False),  # inside it: the upper end decides
        ("max_latency_ms", 9.0, False),
    ],
)
def test_a_requirement_is_met_on_the_cautious_end(name: str, target: float, met: bool) -> None:
    figure = {"median": 10.2, "low": 9.5, "high": 11.0, "noisy": None}
    check = cautious_check(name, target, figure, "×", "p95 at batch 1")
    assert check.met is met and check.measured == 10.2 and check.interval == [9.5, 11.0]
    end = "lower" if name.startswith("min_") else "upper"
    assert check.detail.endswith(f"judged on the {end} end, {9.5 if end == 'lower' else 11:g}")


def test_waiting_for_quiet_listens_again_after_each_busy_reading() -> None:
    slept: list[float] = []
    limits = NoiseLimits(busy_cores=0.3, wait_s=7.0, retries=3, window_s=0.5)
    readings = wait_until_quiet(FakeProbe([0.9, 1.2, 0.1, 5.0]), limits, slept.append)
    assert [r.busy_elsewhere for r in readings] == [0.9, 1.2, 0.1]
    assert slept == [0.5, 7.0, 0.5, 7.0, 0.5]  # listen, wait, listen, wait, listen
    # Retries spent: the last reading stands, busy or not.
    readings = wait_until_quiet(FakeProbe([0.9, 0.8]), NoiseLimits(retries=1), lambda s: None)
    assert [r.busy_elsewhere for r in readings] == [0.9, 0.8]
    # No retries: nothing to wait for, nothing read.
    assert wait_until_quiet(FakeProbe([]), NoiseLimits(retries=0), slept.append) == []


def test_a_real_hog_outside_this_process_tree_is_seen() -> None:
    """A busy loop started through a shell that exits at once: the hog is not our child, so
    its CPU time counts as elsewhere (a child's would be this run's own)."""
    hog = "import time; end = time.time() + 4\nwhile time.time() < end: pass"
    subprocess.run(["sh", "-c", f'"{sys.executable}" -c "{hog}" >/dev/null 2>&1 &'], check=True)
    time.sleep(0.3)  # let it start
    probe = SystemProbe()
    probe.mark()
    time.sleep(1.5)
    reading = probe.read()
    assert reading.seconds == pytest.approx(1.5, abs=0.3)
    assert reading.busy_elsewhere > NoiseLimits().busy_cores  # at least the hog's core
