"""Plots for the HTML report, embedded as base64 PNG so the page needs no network."""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from zenopt.core.records import json_default

__all__ = [
    "importance_bars",
    "latency_histogram",
    "pareto_plot",
    "search_history",
    "training_curves",
]


Plot = Callable[..., str | None]
# Encoded images by plot and arguments: a run renders its report twice (at the verdict, and
# again with the analysis), and matplotlib's drawing and PNG encoding is most of a render.
_DRAWN: dict[str, str | None] = {}
_DRAWN_MAX = 32


def _exact(value: Any) -> Any:
    """NumPy values by their full contents (``tolist``, never an abbreviated repr)."""
    return value.tolist() if isinstance(value, np.ndarray) else json_default(value)


def memoized(plot: Plot) -> Plot:
    """Draw each plot once per process for the same (JSON-like) arguments; a plot is a pure
    function of them. Arguments that are not JSON are drawn every time."""

    @functools.wraps(plot)
    def draw(*args: Any, **kwargs: Any) -> str | None:
        try:
            key = f"{plot.__module__}.{plot.__qualname__}" + json.dumps(
                [args, kwargs], default=_exact
            )
        except (TypeError, ValueError):
            return plot(*args, **kwargs)
        if key not in _DRAWN:
            if len(_DRAWN) >= _DRAWN_MAX:
                del _DRAWN[next(iter(_DRAWN))]
            _DRAWN[key] = plot(*args, **kwargs)
        return _DRAWN[key]

    return draw


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _encode(fig: Any) -> str:
    plt = _figure()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


@memoized
def training_curves(history: list[dict[str, Any]], monitor: str, best_epoch: int) -> str | None:
    if not history:
        return None
    plt = _figure()
    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train loss")
    left.plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation loss")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    right.plot(epochs, [h["val_metric"] for h in history], marker="o", color="tab:green")
    right.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
    right.set_xlabel("epoch")
    right.set_ylabel(monitor)
    right.legend()
    fig.tight_layout()
    return _encode(fig)


@memoized
def latency_histogram(profiles: dict[str, Any], batch_key: str = "b1") -> str | None:
    series = {
        name: p["latency_ms"][batch_key]["samples_ms"]
        for name, p in profiles.items()
        if batch_key in p["latency_ms"]
    }
    if not series:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, samples in series.items():
        ax.hist(samples, bins=50, alpha=0.6, label=name)
    ax.set_xlabel(f"latency per call at {batch_key.replace('b', 'batch ')} (ms)")
    ax.set_ylabel("calls")
    ax.legend()
    fig.tight_layout()
    return _encode(fig)


@memoized
def search_history(trials: list[dict[str, Any]], metric: str, maximize: bool) -> str | None:
    """Each trial's validation value (pruned ones at their last report) and the best so far."""
    finished = [t for t in trials if t["state"] in {"complete", "pruned"}]
    if not finished:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    done = [t for t in finished if t["state"] == "complete" and t["value"] is not None]
    pruned = [t for t in finished if t["state"] == "pruned" and t["last_reported"] is not None]
    ax.scatter([t["number"] for t in done], [t["value"] for t in done], label="completed")
    ax.scatter(
        [t["number"] for t in pruned],
        [t["last_reported"] for t in pruned],
        marker="x",
        color="tab:red",
        label="pruned (last reported)",
    )
    best: list[float] = []
    for t in sorted(done, key=lambda t: t["number"]):
        value = float(t["value"])
        best.append(value if not best else (max if maximize else min)(best[-1], value))
    if done:
        ax.step(
            sorted(t["number"] for t in done),
            best,
            where="post",
            color="tab:green",
            label="best so far",
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {metric}")
    ax.legend()
    fig.tight_layout()
    return _encode(fig)


@memoized
def importance_bars(importances: dict[str, float] | None) -> str | None:
    if not importances:
        return None
    plt = _figure()
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(names) + 1))
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (fANOVA, sums to 1)")
    fig.tight_layout()
    return _encode(fig)


@memoized
def pareto_plot(search: dict[str, Any], baseline: dict[str, Any] | None) -> str | None:
    """Validation quality (what the search selected on) against latency for every measured
    candidate, marker area by size; the front marked, the chosen plan starred, the FP32
    baselines as crosses."""
    rows = [
        r
        for r in search.get("candidates", [])
        if r["validation"] is not None and r["latency_ms"] is not None and r["same_as"] is None
    ]
    if not rows:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 4))
    largest = max(r["size_bytes"] for r in rows)
    area = [30 + 400 * r["size_bytes"] / largest for r in rows]
    colors = ["tab:green" if r["feasible"] else "tab:grey" for r in rows]
    ax.scatter(
        [r["latency_ms"] for r in rows],
        [r["validation"] for r in rows],
        s=area,
        c=colors,
        alpha=0.6,
        edgecolors="black",
        linewidths=0.5,
    )
    # The front is over three objectives (size too), so it is marked, not drawn as a line.
    front = [r for r in rows if r["trial"] in set(search.get("front", []))]
    ax.scatter(
        [r["latency_ms"] for r in front],
        [r["validation"] for r in front],
        s=[30 + 400 * r["size_bytes"] / largest + 120 for r in front],
        facecolors="none",
        edgecolors="tab:blue",
        linewidths=1.5,
        label="Pareto front (quality, latency, size)",
    )
    chosen = search.get("chosen")
    if chosen:
        ax.scatter(
            [chosen["latency_ms"]],
            [chosen["validation"]],
            marker="*",
            s=300,
            color="gold",
            edgecolors="black",
            zorder=3,
            label=f"chosen (trial {chosen['trial']})",
        )
    for name, (lat, quality) in (baseline or {}).items():
        ax.scatter([lat], [quality], marker="x", s=80, color="tab:red", zorder=3)
        ax.annotate(f"{name} FP32", (lat, quality), textcoords="offset points", xytext=(5, 5))
    for r in rows:
        ax.annotate(
            str(r["trial"]),
            (r["latency_ms"], r["validation"]),
            fontsize=7,
            ha="center",
            va="center",
        )
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel(f"validation {rows[0]['metric']}")
    ax.legend(loc="lower right", title="green: feasible · area: size")
    fig.tight_layout()
    return _encode(fig)


@memoized
def serving_curve(serve: dict[str, Any]) -> str | None:
    """p50/p95/p99 of the served model against the offered request rate, with the target."""
    curve = serve.get("curve") or []
    if not curve:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    rates = [p["offered_rps"] for p in curve]
    for q, style in ((50, "o-"), (95, "s-"), (99, "^-")):
        ax.plot(rates, [p[f"p{q}_ms"] for p in curve], style, label=f"p{q}")
    ax.axhline(serve["target_p99_ms"], color="grey", linestyle="--", label="p99 target")
    ax.axvline(serve["rate"], color="grey", linestyle=":", label="target rate")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered requests per second (open loop)")
    ax.set_ylabel("latency (ms)")
    ax.legend()
    fig.tight_layout()
    return _encode(fig)
