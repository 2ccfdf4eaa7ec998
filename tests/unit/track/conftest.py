"""A small hand-written manifest with every section a tracker reads, and a run folder for it:
the tracking tests need no training."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

_LATENCY = {"batch": 1, "repeats": 10, "p50": 0.31, "p90": 0.4, "p95": 0.52, "samples_ms": [0.3]}
_QUALITY = {
    "n": 30,
    "accuracy": 0.9,
    "accuracy_ci95": [0.8, 0.95],
    "f1_macro": 0.88,
    "per_class": {"a": {"precision": 1.0}},
    "confusion_matrix": [[1, 0], [0, 1]],
    "class_names": ["a", "b"],
}
MANIFEST: dict[str, Any] = {
    "zenopt_version": "0.1.0",
    "status": "complete",
    "started_at": "2026-11-28T06:49:55+00:00",
    "finished_at": "2026-11-28T06:54:01+00:00",
    "command": ["zenopt", "run", "--dataset", "iris"],
    "config": {
        "version": 1,
        "seed": 0,
        "data": {"source": "iris", "target": None, "clip_quantiles": [0.01, 0.99]},
        "model": {"name": "mlp", "params": {}},
        "train": {"lr": 0.002, "epochs": 3, "nesterov": False, "optimizer": "adam"},
        "tune": {"storage": None, "space": {}},
        "compress": {"plan": [], "search": {"space": {"prune_ratio": [0.0, 0.5]}}},
    },
    "environment": {"cpu_model": "AMD EPYC", "logical_cores": 2},
    "data": {"name": "iris", "task": "multiclass", "rows": 150, "splits": {"train": 90, "val": 30}},
    "model": {"name": "mlp", "head": "softmax"},
    "training": {
        "best_epoch": 3,
        "best_value": 0.93,
        "epochs_run": 3,
        "seconds": 1.5,
        "history": [
            {"epoch": e, "train_loss": 1.0 / e, "val_metric": 0.5 + e / 10, "lr": 0.002}
            for e in (1, 2, 3)
        ],
    },
    "quality": {
        "primary_metric": "accuracy",
        "test": _QUALITY,
        "validation": {**_QUALITY, "accuracy": 0.93},
        "by_backend": {"torch": _QUALITY, "onnxruntime": {**_QUALITY, "accuracy": 0.8667}},
        "drop": {"backend": "onnxruntime", "metric": "accuracy", "value": 0.0333, "mode": "x"},
        "trained_test": {**_QUALITY, "accuracy": 0.9333},
        "test_drop": {
            "metric": "accuracy",
            "drop": 0.0333,
            "interval": [0.0, 0.1],
            "mcnemar_p": 1.0,
        },
    },
    "tune": {"chosen": {"number": 4, "value": 0.95, "params": {"train.lr": 0.01}}, "counts": {}},
    "export": {"max_abs_diff": 1e-6, "ok": True},
    "artifacts": {"spec": "model.json", "safetensors": "model.safetensors", "onnx": "model.onnx"},
    "profile": {
        backend: {
            "backend": backend,
            "load_ms": 2.0,
            "latency_ms": {"b1": _LATENCY, "b8": {**_LATENCY, "batch": 8, "p50": 1.5}},
            "throughput": {"b1": 3000.0, "b8": 5000.0},
            "throughput_detail": {"b1": {"samples_per_s": 3000.0}},
        }
        for backend in ("torch", "onnxruntime")
    },
    "cost": {"params": 1203, "flops": 2400, "size_bytes": {"spec": 600, "onnx": 9000}},
    "compress": {
        "plan": "quantize(mode=dynamic)",
        "candidate": {
            "plan": "quantize(mode=dynamic)",
            "runtime": "onnxruntime",
            "validation": {**_QUALITY, "accuracy": 0.93},
            "test": _QUALITY,
            "quality_drop": 0.0,
            "size_bytes": 3000,
            "params": 1203,
            "vs_torch_fp32": {"latency_b1_p50": 2.5, "size": 3.0},
            "folder": "compressed/quantize-mode-dynamic",
        },
    },
    "search": {"counts": {"trials": 5, "feasible": 2}, "seconds": 12.5},
    "requirements": [{"name": "min_accuracy", "met": True}, {"name": "max_size_mb", "met": False}],
    "verdict": {
        "all_met": False,
        "exit_code": 1,
        "missed": ["max_size_mb"],
        "deploy_backend": "onnxruntime",
        "deployed_model": "compressed/quantize-mode-dynamic",
    },
    "timings": {"data_s": 0.1, "train_s": 1.5},
}


@pytest.fixture
def manifest() -> dict[str, Any]:
    return copy.deepcopy(MANIFEST)


@pytest.fixture
def run_folder(tmp_path: Path, manifest: dict[str, Any]) -> Path:
    """A run folder holding the manifest and small stand-ins for every file a run writes."""
    run = tmp_path / "run-1"
    deployed = run / "compressed" / "quantize-mode-dynamic"
    deployed.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps(manifest))
    for name in ("report.html", "config.yaml", "model.json", "model.safetensors", "model.onnx"):
        (run / name).write_text(f"{name}\n")
    (deployed / "model.onnx").write_text("small\n")
    (run / "search").mkdir()
    (run / "search" / "trial.json").write_text("{}")  # not the deployed model: not logged
    return run
