"""``zenopt profile FILE.onnx``: latency and throughput of any ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from zenopt.cli.errors import reported_errors
from zenopt.cli.trace_option import TRACE_OPTION, start_trace

__all__ = ["profile"]


def profile(
    model: Path = typer.Argument(..., help="An .onnx file.", show_default=False),
    batch: list[int] | None = typer.Option(
        None, "--batch", "-b", help="Batch size to measure (repeatable). Default: 1 and 64."
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="Threads. Default: physical cores."
    ),
    warmup: int = typer.Option(20, "--warmup", min=0, help="Untimed calls before timing."),
    repeats: int = typer.Option(200, "--repeats", min=10, help="Timed calls per batch size."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Also write the measurements to this JSON file.", show_default=False
    ),
    operators: bool = typer.Option(
        True, "--operators/--no-operators", help="Per-operator time (ONNX Runtime's profiler)."
    ),
    ceiling: bool = typer.Option(
        True,
        "--ceiling/--no-ceiling",
        help="This CPU's peak GEMM rate (cached) and the fraction of it the model reaches.",
    ),
    scaling: bool = typer.Option(
        False, "--scaling", help="Also measure speed at 1 … all threads (largest batch)."
    ),
    instructions: bool = typer.Option(
        False,
        "--instructions",
        help="Also count instructions per inference with Valgrind's callgrind (1 thread; "
        "needs valgrind; slow).",
    ),
    instruction_repeats: int = typer.Option(
        3, "--instruction-repeats", min=3, help="Counted blocks per batch (their spread shown)."
    ),
    trace: str | None = TRACE_OPTION,
) -> None:
    """Measure latency percentiles and throughput of an ONNX model with random inputs."""
    with reported_errors():
        from rich.console import Console

        from zenopt.core.errors import ConfigError
        from zenopt.core.rundir import atomic_write_text
        from zenopt.profile.instructions import require_valgrind
        from zenopt.profile.machine import inference_threads
        from zenopt.profile.onnx_file import analyse_onnx_file, count_onnx_file, profile_onnx_file
        from zenopt.report.analysis_console import print_instructions
        from zenopt.report.console import print_profile

        if not model.is_file():
            raise ConfigError(f"{model}: file not found; pass the path of an .onnx model")
        if json_out is not None and json_out.is_dir():
            raise ConfigError(f"--json {json_out}: is a folder; give a file name such as p.json")
        batches = sorted(set(batch or [1, 64]))
        if any(b < 1 for b in batches):
            raise ConfigError(f"--batch {batches}: every batch size must be >= 1")
        if instructions:
            require_valgrind()  # before anything is measured
        start_trace(trace)
        n_threads = inference_threads(None, threads)
        result = profile_onnx_file(model, batches, n_threads, warmup, repeats)
        console = Console()
        inputs = ", ".join(f"{i['name']}[{','.join(i['shape'])}]" for i in result["inputs"])
        flops = result["flops"]
        console.print(
            f"{model}: {result['size_bytes'] / 1e6:.3f} MB, "
            f"{result['initializer_values']:,} stored values, "
            f"{'unknown' if flops is None else format(flops, ',')} FLOPs/sample, inputs {inputs}"
        )
        print_profile(result["profile"], console)
        result["analysis"] = analyse_onnx_file(
            model,
            result,
            batches,
            n_threads,
            (warmup, repeats),
            (operators, ceiling, scaling),
            console,
        )
        if instructions:
            console.print("counting instructions under valgrind (minutes) …")
            result["instructions"] = count_onnx_file(model, batches, instruction_repeats)
            print_instructions(result["instructions"], console)
        if json_out is not None:
            atomic_write_text(json_out, json.dumps(result, indent=2) + "\n")
