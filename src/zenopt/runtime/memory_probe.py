"""The child process of ``zenopt.profile.memory``: load one model in one runtime, predict,
and print what that took in memory as one JSON line.

It lives outside ``zenopt.profile`` (whose package imports torch) so that an ONNX Runtime
child holds ONNX Runtime alone: ``torch_loaded`` in its output says whether it did.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__: list[str] = []


def _rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _peak_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` belongs to the process's own memory map;
    ``ru_maxrss`` is not used: Linux carries it over from the parent across fork and exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current resident size (Linux ≥ 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _probe(runtime: str, path: Path, batch: Path, threads: int, calls: int) -> dict[str, Any]:
    from zenopt.runtime.predictor import create_predictor

    x = np.load(batch)
    predictor = create_predictor(runtime)
    if runtime == "onnxruntime":
        import onnxruntime  # noqa: F401  (the runtime's own footprint, before the model)
    else:
        import torch  # noqa: F401
    runtime_mb = _rss_mb()
    tick = time.perf_counter()
    predictor.load(path, threads)
    load_ms = (time.perf_counter() - tick) * 1e3
    loaded_mb = _rss_mb()
    whole = _peak_mb()  # imports and loading
    reset = _reset_peak()
    peak_before = _peak_mb()
    held = loaded_mb
    for _ in range(calls):
        predictor.predict(x)
        held = max(held, _rss_mb())
    peak = _peak_mb()
    predictor.close()
    # With the high-water mark reset after loading, it is the peak of inference itself;
    # without, it counts only if inference raised it, and otherwise the largest resident size
    # seen between calls (arenas and pools keep what they took) is the best bound.
    top = max(held, peak) if reset or peak > peak_before else held
    return {
        "runtime_mb": runtime_mb,
        "load_mb": loaded_mb - runtime_mb,
        "load_ms": load_ms,
        "inference_mb": max(0.0, top - loaded_mb),
        "peak_rss_mb": max(whole, peak),
        "calls": calls,
        "peak_exact": reset,
        "torch_loaded": "torch" in sys.modules,
    }


if __name__ == "__main__":
    name, model, data, n_threads, n_calls = sys.argv[1:6]
    out = _probe(name, Path(model), Path(data), int(n_threads), int(n_calls))
    print(json.dumps(out))
