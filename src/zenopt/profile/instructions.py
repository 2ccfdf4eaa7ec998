"""Instructions per inference, counted by Valgrind's callgrind: a noise-free check on a time
ratio.

A timing on a shared machine is at the mercy of the neighbours; an instruction count is not:
callgrind counts the instructions a program executes, the same whatever else the machine
does. Every model is counted in one valgrind process (``zenopt.profile.callgrind_child``), at
one thread with ONNX Runtime's spin-waiting off, ``repeats`` times per model and batch; the
count per inference is the median, with the repeat-to-repeat spread.

Caveat, stated wherever the counts appear: Valgrind does not run AVX-512, so under it PyTorch
and ONNX Runtime pick their AVX2 kernels; the counts describe that code path. A model's
instruction ratio is a check on its time ratio, not a replacement for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.errors import ConfigError, ProfileError
from zenopt.profile.callgrind_child import NO_CONTROL, dump_total

__all__ = [
    "CAVEAT",
    "CountedModel",
    "count_instructions",
    "read_counts",
    "require_valgrind",
]

INSTALL_HINT = (
    "valgrind is not installed (it counts the instructions); install it: "
    "apt-get install valgrind (Debian, Ubuntu) or dnf install valgrind (Fedora)"
)
CAVEAT = (
    "Counted by Valgrind's callgrind at 1 thread. Valgrind does not run AVX-512, so PyTorch "
    "and ONNX Runtime use their AVX2 kernels under it: the counts describe that code path. An "
    "instruction ratio is a noise-free check on a time ratio, not a replacement for it."
)
# Calls before a small model is counted: CPython specialises its bytecode over the first calls
# (measured: the first block after 3 calls counted 2% more than the next, after 20 none)
WARMUP = 20
TIMEOUT_S = 6 * 3600.0  # a CNN at batch 256 takes minutes per call under callgrind


@dataclass(frozen=True)
class CountedModel:
    """One model to count: its label, its runtime (``torch``, ``onnxruntime``, or
    ``onnxfile`` for any ONNX file fed by input name), its file, and per batch size its inputs
    (name → array; a predictor runtime takes one array named ``x``)."""

    label: str
    runtime: str
    path: Path
    inputs: dict[int, dict[str, np.ndarray]]


def require_valgrind() -> str:
    """The valgrind executable, or a one-line ConfigError saying how to install it."""
    found = shutil.which("valgrind")
    if found is None:
        raise ConfigError(INSTALL_HINT)
    return found


def valgrind_note(config: Any) -> str | None:
    """A one-line warning for a run whose ``analysis.instructions`` cannot be counted here."""
    if not config.analysis.instructions:
        return None
    try:
        require_valgrind()
    except ConfigError as exc:
        return f"analysis.instructions: the count will be skipped: {exc}"
    return None


def _valgrind_version(valgrind: str) -> str:
    try:
        out = subprocess.run([valgrind, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _write_job(folder: Path, models: list[CountedModel], batches: list[int], repeats: int) -> Path:
    entries = []
    for i, model in enumerate(models):
        files = {}
        for batch in batches:
            file = folder / f"m{i}_b{batch}.npz"
            np.savez(file, allow_pickle=False, **model.inputs[batch])
            files[str(batch)] = str(file)
        entries.append(
            {
                "label": model.label,
                "runtime": model.runtime,
                "path": str(model.path),
                "inputs": files,
            }
        )
    job = {
        "models": entries,
        "batches": batches,
        "repeats": repeats,
        "warmup": WARMUP,
        "out": str(folder / "callgrind.out"),
        "dumps": str(folder / "dumps.json"),
        "instrumented": False,
    }
    path = folder / "job.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    return path


# A tool's collector must not load inside valgrind: under VTune or nsys (or the tests'
# collector) oneDNN would open an ITT task per primitive inside the counted blocks.
TOOL_ENV = (
    "INTEL_LIBITTNOTIFY64",
    "INTEL_LIBITTNOTIFY32",
    "NVTX_INJECTION64_PATH",
    "NVTX_INJECTION32_PATH",
)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    return {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


def _failed(log: Path, why: str) -> ProfileError:
    """The error for a valgrind process that did not finish; its log is kept for reading."""
    kept = Path(tempfile.gettempdir()) / f"zenopt-callgrind-{os.getpid()}.log"
    shutil.copyfile(log, kept)
    lines = [x.strip() for x in log.read_text(errors="replace").splitlines() if x.strip()]
    last = next((x for x in reversed(lines) if not x.startswith("==")), "no output")
    return ProfileError(f"counting instructions under valgrind: {why}: {last} (log: {kept})")


def _run_child(valgrind: str, folder: Path, job_file: Path, instrumented: bool) -> int:
    if instrumented:  # callgrind_control could not switch it on: on from the start (slower)
        job = json.loads(job_file.read_text(encoding="utf-8"))
        job["instrumented"] = True
        job_file.write_text(json.dumps(job), encoding="utf-8")
    command = [
        valgrind,
        "--tool=callgrind",
        f"--instr-atstart={'yes' if instrumented else 'no'}",
        "--collect-atstart=no",
        f"--callgrind-out-file={folder / 'callgrind.out'}",
        sys.executable,
        "-m",
        "zenopt.profile.callgrind_child",
        str(job_file),
    ]
    log = folder / "valgrind.log"
    try:
        with log.open("wb") as out:
            done = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, env=_child_env(), timeout=TIMEOUT_S
            )
    except subprocess.TimeoutExpired:
        raise _failed(log, f"not done after {TIMEOUT_S / 3600:.0f} h; count fewer batches "
                      "(analysis.instruction_batches, --batch)") from None  # fmt: skip
    if done.returncode == NO_CONTROL and instrumented:
        raise _failed(log, "callgrind counted no instructions")
    if done.returncode not in (0, NO_CONTROL):
        raise _failed(log, f"exit code {done.returncode}")
    return done.returncode


def _summarise(counts: list[float]) -> dict[str, Any]:
    """The median, and the spread: half the range of the blocks, relative to the median."""
    median = float(np.median(counts))
    return {
        "per_inference": median,
        "repeats": counts,
        "spread": (max(counts) - min(counts)) / 2 / median,
    }


def read_counts(folder: Path) -> dict[str, dict[str, Any]]:
    """Per model and batch, the counted blocks (``dumps.json``, in dump order: block ``i`` is
    ``callgrind.out.i``) as instructions per inference; warm-up blocks are dropped."""
    dumps = json.loads((folder / "dumps.json").read_text(encoding="utf-8"))
    per: dict[str, dict[int, list[float]]] = {}
    calls: dict[tuple[str, int], int] = {}
    for i, block in enumerate(dumps, start=1):
        if block["warm"]:  # a warm-up block: counted to keep the code path, then dropped
            continue
        total = dump_total(folder / f"callgrind.out.{i}")
        if total <= 0:
            raise ProfileError(f"callgrind.out.{i}: no instructions counted for {block['label']}")
        per.setdefault(block["label"], {}).setdefault(block["batch"], []).append(
            total / block["calls"]
        )
        calls[block["label"], block["batch"]] = block["calls"]
    return {
        label: {f"b{b}": {**_summarise(v), "calls": calls[label, b]} for b, v in batches.items()}
        for label, batches in per.items()
    }


def count_instructions(
    models: list[CountedModel], batches: list[int], repeats: int = 3
) -> dict[str, Any]:
    """Instructions per inference of every model at every batch, in one valgrind process:
    ``{"models": {label: {"b1": {"per_inference", "repeats", "spread", "calls"}}}, …}``."""
    valgrind = require_valgrind()
    tick = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zenopt-callgrind-") as tmp:
        folder = Path(tmp)
        job_file = _write_job(folder, models, batches, repeats)
        if _run_child(valgrind, folder, job_file, instrumented=False) == NO_CONTROL:
            for old in folder.glob("callgrind.out*"):
                old.unlink()
            _run_child(valgrind, folder, job_file, instrumented=True)
        counts = read_counts(folder)
    return {
        "tool": "callgrind",
        "valgrind": _valgrind_version(valgrind),
        "threads": 1,
        "repeats": repeats,
        "warmup": WARMUP,
        "batches": batches,
        "models": counts,
        "seconds": time.perf_counter() - tick,
        "caveat": CAVEAT,
    }
