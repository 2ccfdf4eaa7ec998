"""Plots of the analysis section: operators, scaling, explanations (embedded PNG)."""

from __future__ import annotations

from typing import Any

from zenopt.report.plots import _encode, _figure, memoized

__all__ = [
    "batch_curve",
    "feature_importance",
    "operator_bars",
    "saliency_grid",
    "thread_curve",
]


def _plain(text: object) -> str:
    """User text as matplotlib draws it literally (a ``$`` would start math mode)."""
    return str(text).replace("$", r"\$")


@memoized
def batch_curve(scaling: dict[str, Any]) -> str | None:
    curves = scaling.get("batch") or {}
    if not curves:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for label, points in curves.items():
        batches = [p["batch"] for p in points]
        rate = [p["samples_per_s"] for p in points]
        low = [p["samples_per_s"] - p["samples_per_s_min"] for p in points]
        high = [p["samples_per_s_max"] - p["samples_per_s"] for p in points]
        ax.errorbar(batches, rate, yerr=[low, high], marker="o", capsize=3, label=_plain(label))
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_yscale("log")
    ax.set_xlabel("batch size (log scale)")
    ax.set_ylabel("samples/s (median call; bars: fastest/slowest)")
    ax.legend()
    fig.tight_layout()
    return _encode(fig)


@memoized
def thread_curve(scaling: dict[str, Any]) -> str | None:
    threads = scaling.get("threads") or {}
    if not threads or len(scaling.get("threads_tried", [])) < 2:
        return None
    plt = _figure()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for label, rows in threads.items():
        counts = [r["threads"] for r in rows]
        left.plot(counts, [r["latency"]["p50_ms"] for r in rows], marker="o", label=_plain(label))
        right.plot(counts, [r["throughput_speedup"] for r in rows], marker="o", label=_plain(label))
    right.plot(
        counts, [c / counts[0] for c in counts], linestyle="--", color="grey", label="linear"
    )
    left.set_xticks(counts)
    right.set_xticks(counts)
    left.set_xlabel("threads")
    left.set_ylabel("latency p50 (ms)")
    right.set_xlabel("threads")
    right.set_ylabel("throughput vs 1 thread")
    right.legend(fontsize=8)
    fig.tight_layout()
    return _encode(fig)


@memoized
def operator_bars(table: dict[str, Any], key: str, top: int = 10) -> str | None:
    """Time per call of the heaviest operator types, baseline against the chosen model."""
    if not table["ops"]:
        return None
    rows = table["ops"][:top][::-1]
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(rows) + 1.2))
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [r["before_us"] for r in rows], height=0.4, label="baseline")
    ax.barh([i - 0.2 for i in y], [r["after_us"] for r in rows], height=0.4, label="chosen")
    ax.set_yticks(list(y), [r["op"] for r in rows])
    ax.set_xlabel(f"µs per call at {key.replace('b', 'batch ')} (kernel time)")
    ax.legend()
    fig.tight_layout()
    return _encode(fig)


@memoized
def feature_importance(importance: dict[str, Any], top: int = 20) -> str | None:
    rows = importance.get("features", [])[:top][::-1]
    if not rows:
        return None
    plt = _figure()
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1))
    ax.barh(
        [_plain(r["feature"]) for r in rows],
        [r["mean"] for r in rows],
        xerr=[r["std"] for r in rows],
    )
    ax.set_xlabel(f"drop in test {importance['metric']} when the feature is shuffled")
    fig.tight_layout()
    return _encode(fig)


@memoized
def saliency_grid(saliency: dict[str, Any]) -> str | None:
    items = saliency.get("items", [])
    if not items:
        return None
    plt = _figure()
    cols = min(5, len(items))
    rows = -(-len(items) // cols)
    fig, axes = plt.subplots(2 * rows, cols, figsize=(1.8 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, item in enumerate(items):
        r, c = divmod(k, cols)
        top, bottom = axes[2 * r][c], axes[2 * r + 1][c]
        top.imshow(item["image"], cmap="gray")
        mark = "" if item["correct"] else " ✗"
        top.set_title(_plain(f"{item['true']} → {item['predicted']}{mark}"), fontsize=8)
        bottom.imshow(item["image"], cmap="gray")
        bottom.imshow(item["saliency"], cmap="inferno", alpha=0.6)
    fig.tight_layout()
    return _encode(fig)
