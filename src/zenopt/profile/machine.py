"""Facts about this machine that every measurement is recorded with."""

from __future__ import annotations

import hashlib
import os
import platform
import resource
import sys
from importlib import metadata
from typing import Any

import psutil

__all__ = [
    "default_threads",
    "fingerprint",
    "inference_threads",
    "machine_summary",
    "peak_rss_mb",
    "usable_cores",
]

# CPU flags that change which kernels the runtimes can use (SIMD width, INT8 dot products, BF16).
INTERESTING_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
)
LIBRARIES = ("torch", "onnx", "onnxruntime", "numpy", "scikit-learn", "pydantic", "zenopt")


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                if key == "" and flags:
                    break
    except OSError:
        pass
    return model, flags


def usable_cores() -> int:
    """Logical cores this process may run on (its CPU affinity), at least 1."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, usable or 1)


def default_threads() -> int:
    """Physical cores (hyper-threads rarely help dense kernels), at least 1."""
    usable = usable_cores()
    physical = psutil.cpu_count(logical=False) or usable or 1
    return max(1, min(physical, usable or 1))


def inference_threads(configured: int | None, given: int | None = None) -> int:
    """The inference thread count: the one ``given`` (a command's ``--threads``, a plan's
    ``runtime(threads=N)``), else the ``configured`` one (``bench.threads``), else
    :func:`default_threads`."""
    return given or configured or default_threads()


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def fingerprint() -> dict[str, Any]:
    model, flags = _cpuinfo()
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_model": model,
        "cpu_flags": {flag: flag in flags for flag in INTERESTING_FLAGS},
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "affinity_cores": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        # Which machine, without naming it: enough to tell two workers' ratios apart.
        "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:12],
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "libraries": versions,
    }


def machine_summary(env: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a measured ratio needs to say about the machine it came from: the CPU, its flags
    that change kernels, the cores and a hash of the host name."""
    env = env or fingerprint()
    return {
        "cpu_model": env["cpu_model"],
        "cpu_flags": sorted(flag for flag, on in env["cpu_flags"].items() if on),
        "physical_cores": env["physical_cores"],
        "logical_cores": env["logical_cores"],
        "hostname_hash": env.get("hostname_hash"),
    }
