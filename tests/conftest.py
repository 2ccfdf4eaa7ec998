"""Shared fixtures: tiny, seeded configurations and one completed run reused across tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# Quick benchmarking for tests: the harness logic is the same, only the counts shrink.
FAST_BENCH = [
    "bench.warmup=2",
    "bench.repeats=10",
    "bench.throughput_repeats=3",
    "bench.batch_sizes=[1, 8]",
    "requirements.throughput_batch=8",
    # The final speed confirmation: few rounds, and no waiting for a quiet machine (under two
    # pytest workers the other one is always busy, so the noise guard would always fire).
    "bench.confirm_rounds=3",
    # One inference thread: two workers each running 2-thread ONNX Runtime sessions on 2
    # cores spin-wait on each other (measured: the suite took 60 s longer).
    "bench.threads=1",
    "bench.noise_wait_s=0",
    "bench.noise_retries=0",
    "tune.when=never",  # tests that exercise the quality loop switch it on themselves
    "compress.search.when=never",  # and so do the efficiency-search tests
    # The analysis parts that time things are off except where a test asks for them
    # (tests/integration/test_analysis.py, tests/browser); explanations stay on.
    "analysis.operators=false",
    "analysis.scaling=false",
    "analysis.memory=false",
    "analysis.ceiling=false",
    "analysis.operator_calls=5",
]


def fast_overrides(*extra: str, epochs: int = 5) -> list[str]:
    return [*FAST_BENCH, f"train.epochs={epochs}", *extra]


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One completed run of iris + mlp with easy requirements (all met)."""
    from rich.console import Console

    from zenopt.core.config import load_config
    from zenopt.flow import run_pipeline

    config = load_config(
        None,
        fast_overrides(
            "data.source=iris",
            "model.name=mlp",
            "train.epochs=40",
            "requirements.min_accuracy=0.5",
            "requirements.max_size_mb=1",
            "requirements.max_latency_ms=1000",
        ),
    )
    out = tmp_path_factory.mktemp("runs") / "iris"
    outcome = run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    return out, outcome.manifest


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow SQLite store with its tables made once: its migrations take seconds."""
    from mlflow.tracking import MlflowClient

    database = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{database}").search_experiments()
    return database


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_template: Path) -> str:
    """The URI of a fresh MLflow SQLite store under tmp_path, used from an empty working
    folder (which must stay empty: no ./mlruns, no ./mlflow.db)."""
    import shutil

    (tmp_path / "tracking").mkdir()
    shutil.copy(mlflow_template, tmp_path / "tracking" / "mlflow.db")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}"


# The folder of the per-test host locks: this test process's cache folder (pytest_configure).
_LOCK_DIR: list[str] = []


@pytest.fixture(autouse=True)
def _own_host_lock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test times and trains under its own host lock (subprocesses inherit it): the two
    pytest-xdist workers never wait on each other, nor on a zenopt run of the machine."""
    import hashlib
    import os
    import sys

    name = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    monkeypatch.setenv("ZENOPT_HOST_LOCK", os.path.join(_LOCK_DIR[0], f"{name}.lock"))
    # A lock configured by an earlier test's in-process `zenopt run` does not carry over (the
    # module is not imported here: that would import torch into every test process).
    hostlock = sys.modules.get("zenopt.profile.hostlock")
    if hostlock is not None:
        monkeypatch.setattr(hostlock, "_configured", None)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker trains with one torch thread: two workers share the two
    cores instead of four threads fighting over them."""
    import os
    import tempfile

    # The machine's GEMM ceiling is cached per machine: in tests, per test process, never in
    # the user's own cache.
    os.environ["ZENOPT_CACHE_DIR"] = tempfile.mkdtemp(prefix="zenopt-test-cache-")
    # The host lock likewise: per test process (session fixtures such as iris_run time before
    # any test's own lock is set), and per test below.
    _LOCK_DIR[:] = [os.environ["ZENOPT_CACHE_DIR"]]
    os.environ["ZENOPT_HOST_LOCK"] = os.path.join(_LOCK_DIR[0], "host.lock")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first, those with the most slow tests first among them, then the
    others, largest first: ``make test`` hands whole files to its two workers in this order
    (``--dist loadfile --no-loadscope-reorder``; xdist's own order, by test count alone, left
    a file of three minute-long tests for last), so the last ones handed out are short and the
    workers finish together instead of one waiting on a long file."""
    slow: dict[Path, int] = {}
    count: dict[Path, int] = {}
    for item in items:
        count[item.path] = count.get(item.path, 0) + 1
        if item.get_closest_marker("slow"):
            slow[item.path] = slow.get(item.path, 0) + 1
    items.sort(key=lambda item: (item.path not in slow, -slow.get(item.path, 0), -count[item.path]))


def pytest_unconfigure(config: pytest.Config) -> None:
    import os
    import shutil

    cache = os.environ.get("ZENOPT_CACHE_DIR", "")
    if "zenopt-test-cache-" in cache:
        shutil.rmtree(cache, ignore_errors=True)
