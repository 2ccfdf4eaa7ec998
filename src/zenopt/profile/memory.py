"""Memory of inference per runtime, each measured in a fresh process.

A process's peak resident memory only grows, so measuring several runtimes in the process that
trained the model would report the training's peak for all of them. Each runtime is therefore
loaded in its own child process (``python -m zenopt.runtime.memory_probe``, which imports
nothing but the runtime it measures), which reports:

- ``runtime_mb``: resident memory after importing the runtime, before the model;
- ``load_mb`` and ``load_ms``: what loading the model added, and how long it took;
- ``inference_mb``: the most memory ``calls`` predictions at ``batch`` held above the memory
  after loading (activations, scratch buffers, arenas, thread pools);
- ``peak_rss_mb``: the child's whole peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.profile.hostlock import timing_section

__all__ = ["inference_memory"]


def inference_memory(
    runtime: str, path: Path, x: np.ndarray, threads: int, calls: int = 5, timeout_s: float = 120
) -> dict[str, Any]:
    """Measure ``runtime`` loading ``path`` and predicting ``x`` in a child process. This
    process holds the host lock exclusively meanwhile (the child times the load and takes no
    lock itself: it would wait for its parent)."""
    with tempfile.TemporaryDirectory(prefix="zenopt-mem-") as tmp:
        batch = Path(tmp) / "x.npy"
        np.save(batch, np.ascontiguousarray(x, dtype=np.float32))
        command = [
            sys.executable,
            "-m",
            "zenopt.runtime.memory_probe",
            runtime,
            str(path),
            str(batch),
            str(threads),
            str(calls),
        ]
        with timing_section():
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory probe of {runtime} on {path} failed: {last}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "runtime": runtime, "batch": int(x.shape[0]), "threads": threads}
