"""The self-contained HTML report, rendered with Jinja2 (autoescaped) from the manifest alone."""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from zenopt.core.rundir import atomic_write_text
from zenopt.report.analysis_plots import (
    batch_curve,
    feature_importance,
    operator_bars,
    saliency_grid,
    thread_curve,
)
from zenopt.report.format import format_value
from zenopt.report.instructions import BASELINES, instruction_rows
from zenopt.report.plots import (
    importance_bars,
    latency_histogram,
    pareto_plot,
    search_history,
    serving_curve,
    training_curves,
)

__all__ = ["render_report", "write_report"]


@functools.cache
def _environment() -> Environment:
    """One Jinja2 environment per process, so its compiled templates are reused."""
    env = Environment(
        loader=PackageLoader("zenopt.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = format_value
    return env


def render_report(manifest: dict[str, Any]) -> str:
    env = _environment()
    training = manifest.get("training") or {}
    plots = {
        "training": training_curves(
            training.get("history", []), training.get("monitor", ""), training.get("best_epoch", 0)
        ),
        "latency": latency_histogram(_latency_profiles(manifest)),
    }
    tune = manifest.get("tune")
    if tune:
        plots["search"] = search_history(
            tune["trials"], tune["metric"], tune["direction"] == "maximize"
        )
        plots["importances"] = importance_bars(tune.get("importances"))
    search = manifest.get("search")
    if search:
        plots["pareto"] = pareto_plot(search, _baseline_points(manifest))
    if manifest.get("serve"):
        plots["serve"] = serving_curve(manifest["serve"])
    plots.update(analysis_plots(manifest.get("analysis") or {}))
    command = manifest.get("command") or []
    return env.get_template("report.html.j2").render(
        m=manifest,
        plots=plots,
        command=shlex.join(command) if command else "",
        instructions=instruction_rows(manifest),
        instruction_baselines=BASELINES,
    )


def _latency_profiles(manifest: dict[str, Any]) -> dict[str, Any]:
    """The FP32 baselines' profiles, and the chosen compressed model's as "chosen"."""
    profiles = dict(manifest.get("profile", {}))
    candidate = (manifest.get("compress") or {}).get("candidate")
    if candidate and candidate.get("profile"):
        profiles["chosen"] = candidate["profile"]
    return profiles


def analysis_plots(analysis: dict[str, Any]) -> dict[str, str | None]:
    plots: dict[str, str | None] = {}
    comparison = (analysis.get("operators") or {}).get("comparison") or {}
    for key, table in comparison.get("batches", {}).items():
        plots[f"operators_{key}"] = operator_bars(table, key)
    scaling = analysis.get("scaling")
    if scaling:
        plots["batch_curve"] = batch_curve(scaling)
        plots["thread_curve"] = thread_curve(scaling)
    explain = analysis.get("explain") or {}
    if explain.get("importance"):
        plots["feature_importance"] = feature_importance(explain["importance"])
    if explain.get("saliency"):
        plots["saliency"] = saliency_grid(explain["saliency"])
    return plots


def _baseline_points(manifest: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The FP32 baselines as (latency at the requirement's batch and percentile, validation
    quality), beside the candidates on the Pareto plot."""
    req = manifest["config"]["requirements"]
    metric = manifest["quality"]["primary_metric"]
    key, pct = f"b{req['latency_batch']}", f"p{req['latency_percentile']}"
    points = {}
    for name, profile in manifest.get("profile", {}).items():
        quality = manifest["quality"].get("by_backend", {}).get(name, {}).get(metric)
        stats = profile["latency_ms"].get(key)
        if quality is not None and stats:
            points[name] = (stats[pct], quality)
    return points


def write_report(manifest: dict[str, Any], path: Path) -> Path:
    atomic_write_text(path, render_report(manifest))
    return path
