"""This machine's own ceiling: peak FP32 and INT8 GEMM rate in ONNX Runtime, cached per machine.

A square matrix product (``MatMul`` in float32; ``MatMulInteger`` uint8 × int8 → int32, the
kernel ONNX Runtime's quantized models run) of size ``n`` is timed after a warm-up at the
thread count the models use; the rate is 2·n³ operations over the fastest call (the ceiling a
model can approach) and over the median call. Results are cached in
``$ZENOPT_CACHE_DIR`` (else ``$XDG_CACHE_HOME/zenopt``, else ``~/.cache/zenopt``) under a key
of the CPU model, its flags, the thread count and the ONNX Runtime version, so each machine
pays the few seconds once.

A model's achieved rate is its FLOPs per sample × samples/s; its fraction of the ceiling says
how much of the machine it uses (small models at batch 1 are far from it: call overhead, not
arithmetic, is their cost).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["achieved", "cache_dir", "gemm_ceiling", "measure_gemm"]


def cache_dir() -> Path:
    explicit = os.environ.get("ZENOPT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "zenopt"


def _model(kind: str, n: int) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if kind == "fp32":
        b = numpy_helper.from_array(rng.standard_normal((n, n)).astype(np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
    else:
        b = numpy_helper.from_array(rng.integers(-64, 64, (n, n), dtype=np.int8), "B")
        node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    graph = helper.make_graph(
        [node],
        f"gemm_{kind}",
        [helper.make_tensor_value_info("A", a_type, [n, n])],
        [helper.make_tensor_value_info("Y", y_type, [n, n])],
        [b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def measure_gemm(
    kind: str, n: int, threads: int, warmup: int = 3, repeats: int = 10
) -> dict[str, Any]:
    """Time one ``n``×``n``×``n`` GEMM in ONNX Runtime, holding the host lock exclusively;
    GOP/s at the fastest and median call."""
    from zenopt.profile.hostlock import timing_section
    from zenopt.profile.latency import measure_calls
    from zenopt.runtime.onnx_runtime import make_session

    rng = np.random.default_rng(1)
    a = (
        rng.standard_normal((n, n)).astype(np.float32)
        if kind == "fp32"
        else rng.integers(0, 255, (n, n), dtype=np.uint8)
    )
    with timing_section(), tempfile.TemporaryDirectory(prefix="zenopt-gemm-") as tmp:
        path = Path(tmp) / f"gemm_{kind}.onnx"
        path.write_bytes(_model(kind, n))
        session = make_session(path, threads)
        samples = measure_calls(
            lambda x: session.run(None, {"A": x}), a, warmup, repeats, f"gemm {kind} {n}"
        )
    ops = 2.0 * n**3
    return {
        "kind": kind,
        "n": n,
        "threads": threads,
        "warmup": warmup,
        "repeats": repeats,
        "peak_gops": ops / (float(samples.min()) / 1e3) / 1e9,
        "median_gops": ops / (float(np.median(samples)) / 1e3) / 1e9,
    }


def _key(env: dict[str, Any], threads: int, n: int) -> str:
    flags = sorted(f for f, on in env["cpu_flags"].items() if on)
    parts = [env["cpu_model"], *flags, str(threads), str(n), env["libraries"].get("onnxruntime")]
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def gemm_ceiling(
    env: dict[str, Any], threads: int, n: int = 1024, refresh: bool = False
) -> dict[str, Any]:
    """FP32 and INT8 GEMM rates of this machine, measured once and cached per fingerprint;
    ``refresh`` measures again (and keeps the higher rates) when the cache looks too low."""
    key = _key(env, threads, n)
    path = cache_dir() / f"gemm-ceiling-{key}.json"
    previous: dict[str, Any] | None = None
    if path.is_file() and refresh:
        with contextlib.suppress(OSError, ValueError):
            previous = json.loads(path.read_text(encoding="utf-8"))
    elif path.is_file():
        try:
            cached: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return {**cached, "cached": True}
        except (OSError, ValueError):
            pass  # a broken cache file is measured again and overwritten
    tick = time.perf_counter()
    result = {
        "key": key,
        "cpu_model": env["cpu_model"],
        "fp32": measure_gemm("fp32", n, threads),
        "int8": measure_gemm("int8", n, threads),
    }
    result["seconds"] = time.perf_counter() - tick
    for kind in ("fp32", "int8"):  # a ceiling is the best rate seen on this machine
        if previous and previous[kind]["peak_gops"] > result[kind]["peak_gops"]:
            result[kind] = previous[kind]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2), encoding="utf-8")
        tmp.replace(path)
        result["cache_file"] = str(path)
    except OSError:
        result["cache_file"] = None  # a read-only home: measured every run, still correct
    return {**result, "cached": False}


def achieved(
    flops_per_sample: float | None, samples_per_s: float, peak_gops: float
) -> dict[str, Any]:
    """A model's achieved GFLOP/s and its fraction of the machine's peak."""
    if not flops_per_sample:
        return {"gflops": None, "fraction": None}
    gflops = flops_per_sample * samples_per_s / 1e9
    return {"gflops": gflops, "fraction": gflops / peak_gops if peak_gops else None}
