"""What a run's manifest becomes in an experiment tracker: params, metrics, tags, files.

Pure functions of the manifest (and, for the files, of the run folder), so they are tested
without MLflow. Every metric is named by its path in the manifest (``quality.test.accuracy``,
``profile.onnxruntime.latency_ms.b1.p95``), so a number in the tracker is found in
manifest.json under the same name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zenopt.core.config import flatten_config

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_PARAM_LENGTH",
    "MAX_TAG_LENGTH",
    "METRIC_PATHS",
    "TrackingRecord",
    "config_params",
    "run_files",
    "tracking_record",
]

# MLflow's limits (mlflow.utils.validation): longer values are refused, so they are cut here.
MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
_ELLIPSIS = "…"
# MLflow accepts letters, digits and _ - . / : and space in a key; anything else becomes _.
_KEY_UNSAFE = re.compile(r"[^\w\-./: ]")

# The manifest's numbers that are logged as metrics; ``*`` stands for any one key. A path that
# is absent from a run (no tuning, no compression) is skipped; so is any value that is not a
# finite number (per-class tables, confidence intervals, text).
METRIC_PATHS: tuple[str, ...] = (
    "data.rows",
    "data.splits.*",
    "training.best_epoch",
    "training.best_value",
    "training.epochs_run",
    "training.seconds",
    "training.train_samples_per_s",
    "quality.test.*",
    "quality.validation.*",
    "quality.baseline.validation.*",
    "quality.by_backend.*.*",
    "quality.drop.value",
    "quality.trained_test.*",
    "quality.test_drop.drop",
    "quality.test_drop.signed_drop",
    "quality.test_drop.mcnemar_p",
    "export.max_abs_diff",
    "profile.*.latency_ms.*.p50",
    "profile.*.latency_ms.*.p95",
    "profile.*.throughput.*",
    "profile.*.load_ms",
    "profile.*.peak_rss_mb",
    "cost.params",
    "cost.flops",
    "cost.size_bytes.*",
    "tune.chosen.value",
    "tune.retrained_value",
    "tune.counts.*",
    "compress.candidate.test.*",
    "compress.candidate.validation.*",
    "compress.candidate.quality_drop",
    "compress.candidate.size_bytes",
    "compress.candidate.compressed_bytes",
    "compress.candidate.params",
    "compress.candidate.flops",
    "compress.candidate.sparsity",
    "compress.candidate.vs_torch_fp32.*",
    "compress.candidate.vs_onnxruntime_fp32.*",
    "compress.candidate.profile.latency_ms.*.p50",
    "compress.candidate.profile.latency_ms.*.p95",
    "compress.candidate.profile.throughput.*",
    "compressed.*.quality_drop",
    "compressed.*.test_drop",
    "compressed.*.vs_torch_fp32.*",
    "search.counts.*",
    "search.seconds",
    "analysis.ceiling.fp32.peak_gops",
    "analysis.ceiling.int8.peak_gops",
    "analysis.ceiling.models.*.gflops",
    "analysis.ceiling.models.*.fraction_fp32",
    "analysis.ceiling.models.*.fraction_int8",
    "analysis.memory.*.inference_mb",
    "analysis.memory.*.load_mb",
    "analysis.memory.*.load_ms",
    "analysis.operators.comparison.batches.*.kernel_speedup",
    "analysis.instructions.models.*.*.per_inference",
    "analysis.instructions.models.*.*.spread",
    "verdict.all_met",
    "verdict.exit_code",
    "timings.*",
)
# Per-epoch records logged as step metrics (step = epoch): the carried-on model's training,
# and the baseline's when tuning replaced it.
HISTORY_PATHS = ("training", "baseline_training")


@dataclass(frozen=True)
class TrackingRecord:
    """One run as a tracker stores it. ``steps`` maps a metric name to its (step, value)s."""

    params: dict[str, str]
    metrics: dict[str, float]
    steps: dict[str, list[tuple[int, float]]]
    tags: dict[str, str]


def tracking_record(manifest: dict[str, Any], run_dir: Path | None = None) -> TrackingRecord:
    """The params, metrics, step metrics and tags of a run; ``run_dir`` fills the folder tag."""
    return TrackingRecord(
        params=config_params(manifest.get("config", {})),
        metrics=dict(_metrics(manifest)),
        steps=_steps(manifest),
        tags=_tags(manifest, run_dir),
    )


def safe_key(key: str) -> str:
    return _KEY_UNSAFE.sub("_", key)[:MAX_KEY_LENGTH]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def param_text(value: Any) -> str:
    """A config value as a param: text as it is, anything else as JSON (null, true, [1, 8]),
    which is also how ``--set key=value`` reads it back."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return _cut(text, MAX_PARAM_LENGTH)


def config_params(config: dict[str, Any]) -> dict[str, str]:
    """The config as params: ``{"train": {"lr": 0.01}}`` → ``{"train.lr": "0.01"}`` (the keys
    ``--set`` takes, values as it reads them back); an empty section stays, as {}."""
    return {safe_key(k): param_text(v) for k, v in flatten_config(config).items()}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _walk(node: Any, parts: list[str], path: list[str]) -> Iterator[tuple[list[str], Any]]:
    if not parts:
        yield path, node
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    keys = list(node) if head == "*" else [head] if head in node else []
    for key in keys:
        yield from _walk(node[key], rest, [*path, str(key)])


def _metrics(manifest: dict[str, Any]) -> Iterator[tuple[str, float]]:
    for pattern in METRIC_PATHS:
        for path, value in _walk(manifest, pattern.split("."), []):
            number = _number(value)
            if number is not None:
                yield safe_key(".".join(path)), number


def _steps(manifest: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    steps: dict[str, list[tuple[int, float]]] = {}
    for section in HISTORY_PATHS:
        history = (manifest.get(section) or {}).get("history") or []
        for index, epoch in enumerate(history):
            step = int(epoch.get("epoch", index + 1))
            for key, value in epoch.items():
                number = _number(value)
                if key != "epoch" and number is not None:
                    steps.setdefault(safe_key(f"{section}.history.{key}"), []).append(
                        (step, number)
                    )
    return steps


def _verdict(manifest: dict[str, Any]) -> str:
    verdict = manifest.get("verdict") or {}
    if not manifest.get("requirements"):
        return "measured only"
    return "met" if verdict.get("all_met") else "missed"


def _tags(manifest: dict[str, Any], run_dir: Path | None) -> dict[str, str]:
    config = manifest.get("config") or {}
    verdict = manifest.get("verdict") or {}
    quality = manifest.get("quality") or {}
    tags = {
        "zenopt.version": manifest.get("zenopt_version"),
        "zenopt.status": manifest.get("status"),
        "zenopt.verdict": _verdict(manifest),
        "zenopt.missed": ", ".join(verdict.get("missed") or []) or None,
        "zenopt.deploy_backend": verdict.get("deploy_backend"),
        "zenopt.deployed_model": verdict.get("deployed_model"),
        "zenopt.compress_plan": (manifest.get("compress") or {}).get("plan"),
        "zenopt.primary_metric": quality.get("primary_metric"),
        "zenopt.model": (manifest.get("model") or {}).get("name"),
        "zenopt.data_source": (config.get("data") or {}).get("source"),
        "zenopt.task": (manifest.get("data") or {}).get("task"),
        "zenopt.cpu_model": (manifest.get("environment") or {}).get("cpu_model"),
        "zenopt.started_at": manifest.get("started_at"),
        "zenopt.finished_at": manifest.get("finished_at"),
        "zenopt.command": " ".join(manifest.get("command") or []) or None,
        "zenopt.run_dir": str(run_dir.resolve()) if run_dir is not None else None,
    }
    return {key: _cut(str(value), MAX_TAG_LENGTH) for key, value in tags.items() if value}


def run_files(manifest: dict[str, Any], run_dir: Path) -> tuple[list[Path], Path | None]:
    """The run's files worth keeping beside its numbers, and the folder of the deployed
    compressed model (None when the baseline is deployed). Files that are gone are left out."""
    names = ["manifest.json", "report.html", "config.yaml", "best_config.yaml"]
    names += [str(name) for name in (manifest.get("artifacts") or {}).values()]
    files = [run_dir / name for name in dict.fromkeys(names) if (run_dir / name).is_file()]
    deployed = (manifest.get("verdict") or {}).get("deployed_model")
    folder = run_dir / deployed if deployed else None
    return files, folder if folder is not None and folder.is_dir() else None
