"""Console tables of the analysis: top operators, scaling, the machine's ceiling."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zenopt.report.format import format_value

__all__ = ["print_ceiling", "print_instructions", "print_operators", "print_threads"]


def print_operators(label: str, table: dict[str, Any], console: Console, top: int = 10) -> None:
    out = Table(
        title=(
            f"{escape(label)}: top operators at batch {table['batch']} ({table['runtime']}, "
            f"{table['threads']} threads, {table['calls']} calls; "
            f"{100 * table['overhead_share']:.0f}% of each call outside kernels)"
        ),
        title_justify="left",
    )
    for column in ("operator", "kind", "µs/call", "share", "nodes"):
        out.add_column(column, justify="left" if column in {"operator", "kind"} else "right")
    for row in table["ops"][:top]:
        out.add_row(
            escape(row["op"]),
            row["category"],
            format_value(row["us_per_call"]),
            f"{100 * row['share']:.1f}%",
            str(row["nodes"]),
        )
    console.print(out)


def print_threads(label: str, rows: list[dict[str, Any]], console: Console) -> None:
    out = Table(title=f"{escape(label)}: thread scaling", title_justify="left")
    for column in ("threads", "latency p50 ms", "batch", "samples/s", "vs 1 thread"):
        out.add_column(column, justify="right")
    for row in rows:
        out.add_row(
            str(row["threads"]),
            format_value(row["latency"]["p50_ms"]),
            str(row["throughput"]["batch"]),
            format_value(row["throughput"]["samples_per_s"]),
            f"{row['throughput_speedup']:.2f}×",
        )
    console.print(out)


def print_ceiling(
    ceiling: dict[str, Any], achieved: dict[str, Any] | None, console: Console
) -> None:
    cached = " (cached)" if ceiling.get("cached") else ""
    line = (
        f"machine peak GEMM{cached}: FP32 {ceiling['fp32']['peak_gops']:.1f} GFLOP/s, "
        f"INT8 {ceiling['int8']['peak_gops']:.1f} GOP/s ({ceiling['fp32']['threads']} threads)"
    )
    if achieved and achieved.get("gflops") is not None:
        line += (
            f"; this model achieves {achieved['gflops']:.2f} GFLOP/s = "
            f"{100 * achieved['fraction_fp32']:.1f}% of the FP32 peak, "
            f"{100 * achieved['fraction_int8']:.1f}% of the INT8 peak"
        )
    console.print(line)


def print_instructions(counts: dict[str, Any], console: Console) -> None:
    """Instructions per inference per model and batch, with the repeat-to-repeat spread."""
    out = Table(
        title=f"instructions per inference ({counts['valgrind']} callgrind, "
        f"{counts['threads']} thread, {counts['repeats']} repeats)",
        title_justify="left",
    )
    for column in ("model", "batch", "instructions", "per sample", "spread", "calls/repeat"):
        out.add_column(column, justify="left" if column == "model" else "right")
    for label, batches in counts["models"].items():
        for key, row in batches.items():
            batch = int(key.removeprefix("b"))
            out.add_row(
                escape(label),
                str(batch),
                f"{row['per_inference']:,.0f}",
                f"{row['per_inference'] / batch:,.0f}",
                f"±{100 * row['spread']:.2f}%",
                str(row["calls"]),
            )
    console.print(out)
    console.print(f"[dim]{escape(counts['caveat'])}[/]")
