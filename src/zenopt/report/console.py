"""Console tables of a run, rendered from its manifest."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from zenopt.report.format import format_value as _fmt

__all__ = ["print_profile", "print_run_summary"]


def print_run_summary(manifest: dict[str, Any], console: Console) -> None:
    requirements = manifest.get("requirements", [])
    table = Table(title="requirements", title_justify="left")
    for column in ("requirement", "target", "measured", "verdict", "measured how"):
        table.add_column(
            column, justify="left" if column in {"requirement", "verdict"} else "right"
        )
    for r in requirements:
        verdict = "[green]met[/]" if r["met"] else "[bold red]missed[/]"
        unit = f" {r['unit']}" if r["unit"] else ""
        table.add_row(
            r["name"],
            f"{_fmt(r['target'])}{unit}",
            f"{_fmt(r['measured'])}{unit}",
            verdict,
            r["detail"],
        )
    if requirements:
        console.print(table)
    else:
        console.print("[dim]no requirements set[/]")
    quality = manifest.get("quality", {})
    test = quality.get("test", {})
    if "accuracy" in test:
        low, high = test["accuracy_ci95"]
        console.print(
            f"test accuracy [bold]{test['accuracy']:.4f}[/] (95% CI {low:.4f}–{high:.4f}, "
            f"n={test['n']}) · macro F1 {test['f1_macro']:.4f}"
        )
    elif test:
        console.print(
            f"test MSE [bold]{_fmt(test['mse'])}[/] · MAE {_fmt(test['mae'])} · "
            f"R² {_fmt(test['r2'])}"
        )
    if manifest.get("profile"):
        print_profile(manifest["profile"], console)
    cost = manifest.get("cost", {})
    if cost:
        sizes = ", ".join(f"{k} {v / 1e6:.3f} MB" for k, v in cost["size_bytes"].items())
        console.print(f"params {cost['params']:,} · FLOPs/sample {cost['flops']:,} · {sizes}")
    for decision in manifest.get("decisions", {}).values():
        if not decision["met"] or (decision["loop"] == "quality" and "tune" in manifest):
            console.print(f"[yellow]{decision['loop']} loop[/]: {decision['action']}")


def print_profile(profiles: dict[str, Any], console: Console) -> None:
    table = Table(title="speed (measured here)", title_justify="left")
    for column in (
        "runtime",
        "threads",
        "batch",
        "calls",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "samples/s",
    ):
        table.add_column(column, justify="left" if column == "runtime" else "right")
    for name, p in profiles.items():
        for key, s in p["latency_ms"].items():
            table.add_row(
                name,
                str(p["threads"]),
                str(s["batch"]),
                str(s["repeats"]),
                _fmt(s["p50"]),
                _fmt(s["p95"]),
                _fmt(s["p99"]),
                _fmt(p["throughput"][key]),
            )
    console.print(table)
