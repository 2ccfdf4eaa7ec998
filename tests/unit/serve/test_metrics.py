"""/metrics with several worker processes (prometheus-client's multiprocess mode): counters of
every process add up, dead or alive; the live gauges of a process that died are dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

WORKER = """
from zenopt.serve.metrics import ServerMetrics
m = ServerMetrics()
m.requests.labels("infer", "200").inc()
m.in_flight.inc(3)  # then the process dies with three requests in flight
"""
SCRAPE = """
import sys
from zenopt.serve.metrics import ServerMetrics
sys.stdout.write(ServerMetrics().exposition(None)[0].decode())
"""


def _python(code: str, folder: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout


def test_dead_workers_count_but_are_not_in_flight(tmp_path: Path) -> None:
    _python(WORKER, tmp_path)
    _python(WORKER, tmp_path)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(_python(SCRAPE, tmp_path))
        for s in family.samples
    }
    assert samples[("zenopt_requests_total", (("endpoint", "infer"), ("status", "200")))] == 2
    assert samples[("zenopt_requests_in_flight", ())] == 0
    assert len(list(tmp_path.glob("gauge_live*"))) == 1  # the scraper's own; theirs are gone
