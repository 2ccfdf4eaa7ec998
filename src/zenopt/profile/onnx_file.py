"""Profile any ONNX file with random inputs shaped from its signature."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.errors import ConfigError, first_line
from zenopt.profile.latency import measure_calls, summarize_latency, summarize_throughput
from zenopt.profile.machine import peak_rss_mb
from zenopt.profile.onnx_cost import onnx_flops, onnx_initializer_values
from zenopt.runtime.onnx_runtime import make_session

__all__ = ["count_onnx_file", "profile_onnx_file"]

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(bool)": np.bool_,
}


def _random_input(meta: Any, batch: int, rng: np.random.Generator, path: Path) -> np.ndarray:
    dims = list(meta.shape)
    shape = []
    for i, dim in enumerate(dims):
        if isinstance(dim, int) and dim > 0:
            shape.append(batch if i == 0 and not isinstance(dims[0], int) else dim)
        elif i == 0:
            shape.append(batch)
        else:
            raise ConfigError(
                f"{path}: input {meta.name!r} has a dynamic dimension {dim!r} at axis {i}; "
                "only the batch axis may be dynamic for zenopt profile"
            )
    dtype = _DTYPES.get(meta.type)
    if dtype is None:
        raise ConfigError(
            f"{path}: input {meta.name!r} has type {meta.type}, which zenopt cannot fill"
        )
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if dtype is np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(0, 10, shape).astype(dtype)


def _static_batch(session: Any) -> int | None:
    first = session.get_inputs()[0].shape
    return first[0] if first and isinstance(first[0], int) and first[0] > 0 else None


def profile_onnx_file(
    path: Path, batches: list[int], threads: int, warmup: int, repeats: int, seed: int = 0
) -> dict[str, Any]:
    """Latency percentiles and throughput per batch size, with how they were measured."""
    start = time.perf_counter()
    session = make_session(path, threads)
    load_ms = (time.perf_counter() - start) * 1e3
    fixed = _static_batch(session)
    if fixed is not None and any(b != fixed for b in batches):
        raise ConfigError(
            f"{path}: the model's batch dimension is fixed at {fixed}; use --batch {fixed}"
        )
    rng = np.random.default_rng(seed)
    latency: dict[str, Any] = {}
    throughput: dict[str, float] = {}
    for batch in batches:
        feeds = {m.name: _random_input(m, batch, rng, path) for m in session.get_inputs()}

        def call(_x: np.ndarray, feeds: dict[str, np.ndarray] = feeds) -> object:
            return session.run(None, feeds)

        samples = measure_calls(call, np.empty(0), warmup, repeats, f"onnxruntime b{batch}")
        latency[f"b{batch}"] = summarize_latency(samples, batch, warmup, threads).to_dict()
        throughput[f"b{batch}"] = summarize_throughput(
            samples, batch, warmup, threads
        ).samples_per_s
    return {
        "file": str(path),
        "size_bytes": path.stat().st_size,
        "initializer_values": onnx_initializer_values(path),
        "flops": onnx_flops(path),
        "inputs": [
            {"name": m.name, "shape": [str(d) for d in m.shape], "type": m.type}
            for m in session.get_inputs()
        ],
        "profile": {
            "onnxruntime": {
                "backend": "onnxruntime",
                "threads": threads,
                "load_ms": load_ms,
                "peak_rss_mb": peak_rss_mb(),
                "latency_ms": latency,
                "throughput": throughput,
            }
        },
    }


def analyse_onnx_file(
    path: Path,
    result: dict[str, Any],
    batches: list[int],
    threads: int,
    counts: tuple[int, int],
    parts: tuple[bool, bool, bool],
    console: Any,
) -> dict[str, Any]:
    """``zenopt profile``'s extras, printed as they come: top operators per batch, the
    machine's GEMM ceiling with the fraction the model reaches, thread scaling. An extra that
    fails is reported in one line (and under ``errors``); the measurements before it stay."""
    from rich.markup import escape

    operators, ceiling, scaling = parts
    out: dict[str, Any] = {"errors": {}}
    session = make_session(path, threads)
    inputs = session.get_inputs()
    single = len(inputs) == 1 and inputs[0].type == "tensor(float)"
    if (operators or scaling) and not single:
        console.print("operators and scaling need a model with one float input; skipped")
    work: dict[str, tuple[bool, Callable[[], Any]]] = {
        "operators": (
            operators and single,
            lambda: _operators(path, inputs[0], batches, threads, counts, console),
        ),
        "ceiling": (ceiling, lambda: _ceiling(result, batches, threads, console)),
        "threads": (
            scaling and single,
            lambda: _threads(path, inputs[0], batches, threads, counts, console),
        ),
    }
    for name, (enabled, run) in work.items():
        if not enabled:
            continue
        try:
            out[name] = run()
        except Exception as exc:  # the latency already measured is kept and written
            out["errors"][name] = f"{type(exc).__name__}: {first_line(exc)}"
            console.print(f"[yellow]{name} skipped: {escape(out['errors'][name])}[/]")
    return out


def _operators(
    path: Path, meta: Any, batches: list[int], threads: int, counts: tuple[int, int], console: Any
) -> dict[str, Any]:
    from zenopt.profile.operators import onnx_operator_profile
    from zenopt.report.analysis_console import print_operators

    warmup, repeats = counts
    rng = np.random.default_rng(0)
    tables = {}
    for batch in batches:
        x = _random_input(meta, batch, rng, path)
        n = max(5, min(repeats, 50) if batch == 1 else min(repeats, 50) // 5)
        tables[f"b{batch}"] = onnx_operator_profile(path, x, threads, min(warmup, 5), n)
        print_operators(path.name, tables[f"b{batch}"], console)
    return tables


def _ceiling(
    result: dict[str, Any], batches: list[int], threads: int, console: Any
) -> dict[str, Any]:
    from zenopt.profile.ceiling import achieved, gemm_ceiling
    from zenopt.profile.machine import fingerprint
    from zenopt.report.analysis_console import print_ceiling

    top = max(batches)
    rate = result["profile"]["onnxruntime"]["throughput"][f"b{top}"]
    peak = gemm_ceiling(fingerprint(), threads)
    fp32 = achieved(result["flops"], rate, peak["fp32"]["peak_gops"])
    int8 = achieved(result["flops"], rate, peak["int8"]["peak_gops"])
    row = {
        "batch": top,
        "gflops": fp32["gflops"],
        "fraction_fp32": fp32["fraction"],
        "fraction_int8": int8["fraction"],
    }
    print_ceiling(peak, row, console)
    return {**peak, "model": row}


def _threads(
    path: Path, meta: Any, batches: list[int], threads: int, counts: tuple[int, int], console: Any
) -> list[dict[str, Any]]:
    from zenopt.profile.machine import usable_cores
    from zenopt.profile.scaling import thread_ladder, thread_scaling
    from zenopt.report.analysis_console import print_threads

    warmup, repeats = counts
    rng = np.random.default_rng(0)
    pool = _random_input(meta, max(batches), rng, path).astype(np.float32)
    rows = thread_scaling(
        "onnxruntime",
        path,
        pool,
        thread_ladder(usable_cores()),
        (min(batches), max(batches)),
        warmup,
        (repeats, max(3, repeats // 10)),
    )
    print_threads(path.name, rows, console)
    return rows


def count_onnx_file(path: Path, batches: list[int], repeats: int, seed: int = 0) -> dict[str, Any]:
    """Instructions per inference of an ONNX file at each batch size (Valgrind's callgrind, one
    thread), on the same random inputs ``profile_onnx_file`` times."""
    from zenopt.profile.instructions import CountedModel, count_instructions

    session = make_session(path, 1)
    rng = np.random.default_rng(seed)
    inputs = {
        b: {m.name: _random_input(m, b, rng, path) for m in session.get_inputs()} for b in batches
    }
    model = CountedModel(path.name, "onnxfile", path, inputs)
    return count_instructions([model], batches, repeats)
