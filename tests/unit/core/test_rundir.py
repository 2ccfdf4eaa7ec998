from __future__ import annotations

import json
from pathlib import Path

import pytest

from zenopt.core.errors import ConfigError
from zenopt.core.records import BackendProfile, LatencyStats, ThroughputStats
from zenopt.core.rundir import RunDir, atomic_write_text, read_manifest


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_create_refuses_a_used_folder_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ConfigError, match="--overwrite"):
        RunDir(tmp_path).create()
    RunDir(tmp_path).create(overwrite=True)
    assert not (tmp_path / "old.txt").exists()


def test_read_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_backend_profile_round_trips_through_json() -> None:
    stats = LatencyStats(1, 5, 10, 2, 1.0, 2.0, 3.0, 4.0, 1.5, 0.5, 0.9, 4.1, [1.0, 2.0])
    profile = BackendProfile(
        backend="onnxruntime",
        threads=2,
        load_ms=3.5,
        latency={1: stats},
        throughput={1: ThroughputStats(1, 5, 10, 2, 1000.0, 900.0, 1100.0)},
        peak_rss_mb=100.0,
    )
    data = json.loads(json.dumps(profile.to_dict()))
    assert BackendProfile.from_dict(data) == profile
    assert data["latency_ms"]["b1"]["p95"] == 3.0
    assert data["throughput"]["b1"] == 1000.0
