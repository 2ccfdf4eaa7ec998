"""The flow's output contract, pinned by a golden file.

A reduced default job (``examples/digits.yaml`` at 16×16, fixed seed, tiny budgets: a 2-trial
quality loop, a 1-plan efficiency search, the untimed analysis) must give the same flattened
manifest key paths, the same verdict and chosen plan, and the same quality figures (within
1e-6) as ``golden/reduced_default_job.json``. The golden file was made on the commit before the
flow became a package (issue 15); a change that adds manifest keys updates it in the same
commit, with ``python -m tests.integration.test_golden_run --write``.

The plan searched (channel pruning by half, L1 importance) is chosen for being robust: it
leaves mnist_cnn's convolutions 16 and 32 wide whatever ``round_to`` the CPU gets (8 on AVX2,
16 on AVX-512), it involves no quantization (whose settings depend on VNNI), and it is about 3×
the FP32 baseline's speed here, far beyond this shared machine's timing noise.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from zenopt.core.config import load_config
from zenopt.flow import run_pipeline

ROOT = Path(__file__).parents[2]
GOLDEN = Path(__file__).parent / "golden" / "reduced_default_job.json"
SPACE = '{"train.lr": {"type": "float", "low": 0.001, "high": 0.01, "log": true}}'
REDUCED = [
    "data.resize=16",
    "train.epochs=2",
    "train.patience=null",
    "tune.when=always",
    "tune.trials=2",
    "tune.pruner=none",
    f"tune.space={SPACE}",
    "requirements.max_latency_ms=null",
    "requirements.min_latency_speedup=null",
    "requirements.min_throughput_speedup=null",
    "requirements.min_accuracy=0.5",
    "requirements.min_size_reduction=2",
    "requirements.max_quality_drop=0.1",
    "requirements.throughput_batch=8",
    "compress.search.trials=1",
    "compress.search.stop=first_feasible",
    "compress.search.rounds=8",  # one stalled round cannot blow the speed interval open
    "compress.search.prune_epochs=1",
    "compress.search.space.prune_ratio=[0.5]",
    "compress.search.space.importance=[l1]",
    "compress.search.space.distill=[false]",
    "compress.search.space.quantize=[none]",
    "compress.search.space.precision=[none]",
    "compress.search.space.runtime=[onnxruntime]",
    "compress.search.space.threads=[null]",
    "bench.warmup=2",
    "bench.repeats=10",
    "bench.throughput_repeats=3",
    "bench.batch_sizes=[1, 8]",
    "bench.confirm_rounds=3",
    "bench.threads=1",
    "bench.noise_wait_s=0",
    "bench.noise_retries=0",
    "analysis.operators=false",
    "analysis.scaling=false",
    "analysis.memory=false",
    "analysis.ceiling=false",
]
# The parts of the manifest whose numbers are quality figures (every numeric leaf under them).
QUALITY_PARTS = (
    "quality",
    "compress.candidate.validation",
    "compress.candidate.test",
    "compress.candidate.drop",
)
QUALITY_LEAVES = ("compress.candidate.quality_drop", "tune.chosen.value")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf under its dotted path; a list's items share the path ``name[]``."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value:
            out[prefix] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        out[f"{prefix}[]"] = None  # the list itself, empty or not
        for item in value:
            for path, leaf in flatten(item, f"{prefix}[]").items():
                out.setdefault(path, leaf)
    else:
        out[prefix] = value
    return out


def _numbers(value: Any, prefix: str) -> dict[str, float]:
    """Numeric leaves under ``prefix``, lists indexed so that every figure is kept."""
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out.update(_numbers(item, f"{prefix}.{key}"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.update(_numbers(item, f"{prefix}[{index}]"))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out[prefix] = float(value)
    return out


def _get(manifest: dict[str, Any], path: str) -> Any:
    node: Any = manifest
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def summarise(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the golden file pins: key paths, verdict, chosen plan, quality figures."""
    quality: dict[str, float] = {}
    for part in QUALITY_PARTS:
        quality.update(_numbers(_get(manifest, part), part))
    for leaf in QUALITY_LEAVES:
        quality.update(_numbers(_get(manifest, leaf), leaf))
    verdict = manifest["verdict"]
    return {
        "key_paths": sorted(flatten(manifest)),
        "verdict": {k: verdict[k] for k in sorted(verdict)},
        "decisions_met": {k: v["met"] for k, v in manifest["decisions"].items()},
        "tune_carried_on": manifest["tune"]["carried_on"],
        "chosen_plan": (manifest.get("compress") or {}).get("plan"),
        "quality": quality,
    }


def run_reduced_job(out: Path) -> dict[str, Any]:
    config = load_config(ROOT / "examples" / "digits.yaml", REDUCED)
    outcome = run_pipeline(config, out, console=Console(quiet=True), quiet=True)
    return outcome.manifest


@pytest.mark.slow
def test_the_reduced_default_job_matches_the_golden_file(tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = summarise(run_reduced_job(tmp_path / "run"))
    missing = sorted(set(golden["key_paths"]) - set(got["key_paths"]))
    added = sorted(set(got["key_paths"]) - set(golden["key_paths"]))
    assert not missing and not added, f"missing {missing}, added {added}"
    for key in ("verdict", "decisions_met", "tune_carried_on", "chosen_plan"):
        assert got[key] == golden[key], key
    assert sorted(got["quality"]) == sorted(golden["quality"])
    for path, value in golden["quality"].items():
        assert got["quality"][path] == pytest.approx(value, abs=1e-6), path


def test_flatten_lists_share_a_path_and_keep_empty_containers() -> None:
    flat = flatten({"a": [{"x": 1}, {"y": 2}], "b": {}, "c": [], "d": {"e": None}})
    assert sorted(flat) == ["a[]", "a[].x", "a[].y", "b", "c[]", "d.e"]


if __name__ == "__main__" and "--write" in sys.argv:
    with tempfile.TemporaryDirectory() as tmp:
        summary = summarise(run_reduced_job(Path(tmp) / "run"))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}: {len(summary['key_paths'])} key paths, verdict {summary['verdict']}")
