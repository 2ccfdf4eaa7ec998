"""Runs side by side, built from their manifests alone.

Rows are plain Python on dicts (:func:`compare_manifests`); :mod:`.compare_render` shows them
in the console and as HTML. A row *differs* when its shown values differ; each later run then
says how far it is from the first: points for fractions ("+0.8 pts"), a ratio for latency,
throughput, sizes and times ("1.12×"), a signed difference for counts; a missing value "—".
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from zenopt.core.config import flatten_config
from zenopt.report.format import format_value
from zenopt.report.instructions import instruction_compare_rows

__all__ = ["Comparison", "Row", "Section", "compare_manifests", "delta"]

Kind = Literal["pts", "ratio", "diff", "text"]
Manifest = dict[str, Any]
MISSING = "—"
FRACTION_METRICS = frozenset({"accuracy", "f1_macro", "precision_macro", "recall_macro"})
RATIO_METRICS = frozenset({"mse", "mae"})
POINT_REQUIREMENTS = frozenset({"min_accuracy", "min_f1", "min_precision", "min_recall"})


@dataclass(frozen=True)
class Row:
    """One compared value: its shown cell per run, and per run its distance from the first
    run ("" for the first run, for an equal value, or for text)."""

    label: str
    cells: tuple[str, ...]
    deltas: tuple[str, ...]
    differs: bool


@dataclass(frozen=True)
class Section:
    title: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Comparison:
    runs: tuple[str, ...]  # the run folders as given, in order; the first is the reference
    sections: tuple[Section, ...]
    config_differences: tuple[Row, ...]

    @property
    def headers(self) -> tuple[str, ...]:
        """Column headers: folder names, or the whole paths where two names collide."""
        names = tuple(Path(run).name or run for run in self.runs)
        return names if len(set(names)) == len(names) else self.runs

    def differing(self) -> list[str]:
        return [row.label for s in self.sections for row in s.rows if row.differs]


def dig(data: Any, path: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``; None where any key is missing."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value) if value else MISSING
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return format_value(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _signed(d: float) -> str:
    if isinstance(d, int):
        return f"{d:+,}"
    size = abs(d)
    text = f"{size:,.0f}" if size >= 100 else f"{size:.1f}" if size >= 0.1 else f"{size:.2g}"
    return ("-" if d < 0 else "+") + text


def _times(r: float) -> str:
    if r >= 100:
        return f"{r:,.0f}×"
    text = f"{r:.3g}"
    return f"{r:.4f}×" if text == "1" and r != 1 else f"{text}×"


def delta(first: Any, value: Any, kind: Kind) -> str:
    """How far ``value`` is from the first run's ``first``; "" where that means nothing."""
    if kind == "text" or not _is_number(first) or not _is_number(value):
        return ""
    if kind == "pts":
        return f"{_signed(100 * (value - first))} pts"
    if kind == "ratio" and first != 0:
        return _times(value / first)
    return _signed(value - first)


def make_row(
    label: str, values: Sequence[Any], kind: Kind = "text", cells: Sequence[str] | None = None
) -> Row:
    shown = tuple(cells) if cells is not None else tuple(show(v) for v in values)
    deltas = tuple(
        delta(values[0], v, kind) if i and shown[i] != shown[0] else ""
        for i, v in enumerate(values)
    )
    return Row(label, shown, deltas, len(set(shown)) > 1)


def _field(ms: Sequence[Manifest], label: str, path: str, kind: Kind = "text") -> Row:
    return make_row(label, [dig(m, path) for m in ms], kind)


def _union(groups: Iterable[Iterable[str]]) -> list[str]:
    """Every key of every run, in first-seen order."""
    return list(dict.fromkeys(key for group in groups for key in group))


def _metric_kind(metric: str | None) -> Kind:
    if metric in FRACTION_METRICS:
        return "pts"
    return "ratio" if metric in RATIO_METRICS else "text" if metric is None else "diff"


def _with_ci(value: Any, ci: Any) -> str:
    if value is None or not isinstance(ci, list) or len(ci) != 2:
        return show(value)
    return f"{show(value)} (95% CI {show(ci[0])}–{show(ci[1])})"


def _verdict(m: Manifest) -> str | None:
    verdict = m.get("verdict")
    if not isinstance(verdict, dict):
        return None
    if not m.get("requirements"):
        return "no requirements set"
    return "all met" if verdict.get("all_met") else "missed " + ", ".join(verdict.get("missed", []))


def _run_rows(runs: Sequence[str], ms: Sequence[Manifest]) -> list[Row]:
    def tuning(m: Manifest) -> str:
        tune = m.get("tune")
        return f"ran ({len(tune.get('trials', []))} trials)" if tune else "not run"

    return [
        make_row("run folder", runs),
        _field(ms, "status", "status"),
        _field(ms, "started at", "started_at"),
        _field(ms, "seed", "config.seed", "diff"),
        _field(ms, "zenopt version", "zenopt_version"),
        make_row("command", [shlex.join(m.get("command") or []) or None for m in ms]),
        _field(ms, "data source", "data.name"),
        _field(ms, "task", "data.task"),
        _field(ms, "rows", "data.rows", "diff"),
        make_row("splits train / val / test", [_splits(m) for m in ms]),
        _field(ms, "model", "model.name"),
        make_row("tuning", [tuning(m) for m in ms]),
        _field(ms, "carried on", "tune.carried_on"),
    ]


def _splits(m: Manifest) -> str | None:
    splits = dig(m, "data.splits")
    if not isinstance(splits, dict):
        return None
    return " / ".join(show(splits.get(k)) for k in ("train", "val", "test"))


def _quality_rows(ms: Sequence[Manifest]) -> list[Row]:
    metrics = {dig(m, "quality.primary_metric") for m in ms}
    metric = metrics.pop() if len(metrics) == 1 else None
    kind = _metric_kind(metric)
    values, cells = [], []
    for m in ms:
        name = dig(m, "quality.primary_metric")
        value = dig(m, f"quality.test.{name}") if name else None
        values.append(value)
        cell = _with_ci(value, dig(m, f"quality.test.{name}_ci95") if name else None)
        cells.append(cell if metric or value is None else f"{name} {cell}")
    by_class = [dig(m, "quality.test.per_class") or {} for m in ms]  # names may hold dots
    recall = {c: [(b.get(c) or {}).get("recall") for b in by_class] for c in _union(by_class)}
    return [
        make_row(f"test {metric or 'primary metric'} (deployed model)", values, kind, cells),
        *(make_row(f"test recall of {c}", r, "pts") for c, r in recall.items()),
        _field(ms, "test drop (deployed vs trained)", "quality.test_drop.drop", kind),
        _field(ms, "validation drop (FP32 export)", "quality.drop.value", kind),
        make_row("verdict", [_verdict(m) for m in ms]),
        _field(ms, "deployed runtime", "verdict.deploy_backend"),
    ]


def _requirement_rows(ms: Sequence[Manifest]) -> list[Row]:
    found = [{r["name"]: r for r in m.get("requirements") or []} for m in ms]
    metric = dig(ms[0], "quality.primary_metric")
    rows = []
    for name in _union(found):
        points = (
            name in POINT_REQUIREMENTS
            or name.startswith("min_class_")
            or (name == "max_quality_drop" and metric in FRACTION_METRICS)
        )
        kind: Kind = "pts" if points else "diff" if name == "min_r2" else "ratio"
        cells = [_requirement_cell(reqs.get(name)) for reqs in found]
        values = [dig(reqs.get(name), "measured") for reqs in found]
        rows.append(make_row(name, values, kind, cells))
    return rows


def _requirement_cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return MISSING
    unit = f" {r['unit']}" if r.get("unit") else ""
    verdict = "met" if r.get("met") else "missed"
    return f"{show(r.get('measured'))}{unit} (target {show(r.get('target'))}{unit}) {verdict}"


def _training_rows(ms: Sequence[Manifest]) -> list[Row]:
    return [
        _field(ms, "epochs run", "training.epochs_run", "diff"),
        _field(ms, "best epoch", "training.best_epoch", "diff"),
        _field(ms, "best validation value", "training.best_value", "diff"),
        _field(ms, "stopped early", "training.stopped_early"),
        _field(ms, "training samples/s", "training.train_samples_per_s", "ratio"),
    ]


def _batch_order(key: str) -> tuple[int, str]:
    digits = key.lstrip("b")
    return (int(digits), key) if digits.isdigit() else (1 << 30, key)


def _speed_rows(ms: Sequence[Manifest]) -> list[Row]:
    rows = []
    for backend in _union((m.get("profile") or {}) for m in ms):
        p = [dig(m, f"profile.{backend}") or {} for m in ms]
        for key in sorted(_union(x.get("latency_ms") or {} for x in p), key=_batch_order):
            for pct in ("p50", "p95"):
                values = [dig(x, f"latency_ms.{key}.{pct}") for x in p]
                rows.append(make_row(f"{backend} {key} {pct} ms", values, "ratio"))
        for key in sorted(_union(x.get("throughput") or {} for x in p), key=_batch_order):
            values = [dig(x, f"throughput.{key}") for x in p]
            rows.append(make_row(f"{backend} {key} samples/s", values, "ratio"))
        rows.append(make_row(f"{backend} threads", [x.get("threads") for x in p], "diff"))
        values = [x.get("peak_rss_mb") for x in p]
        rows.append(make_row(f"{backend} peak memory MiB", values, "ratio"))
    return rows


def _megabytes(values: Sequence[Any]) -> list[str]:
    return [f"{v / 1e6:.3f} MB" if _is_number(v) else MISSING for v in values]


def _cost_rows(ms: Sequence[Manifest]) -> list[Row]:
    rows = [
        _field(ms, "parameters", "cost.params", "ratio"),
        _field(ms, "FLOPs per sample", "cost.flops", "ratio"),
    ]
    for name in _union(dig(m, "cost.size_bytes") or {} for m in ms):
        values = [dig(m, f"cost.size_bytes.{name}") for m in ms]
        rows.append(make_row(f"{name} file", values, "ratio", _megabytes(values)))
    return rows


def _compress_rows(ms: Sequence[Manifest]) -> list[Row]:
    if not any(m.get("compress") for m in ms):
        return []
    c = [dig(m, "compress.candidate") or {} for m in ms]

    def chosen_by(m: Manifest, candidate: dict[str, Any]) -> str | None:
        if not candidate:
            return None
        search = dig(m, "compress.source") == "search"
        return f"efficiency search (trial {candidate.get('trial')})" if search else "compress.plan"

    metrics = {x.get("primary_metric") for x in c if x}
    metric = metrics.pop() if len(metrics) == 1 else None
    kind = _metric_kind(metric)
    values = [dig(x, f"test.{metric}") for x in c]
    cells = [_with_ci(v, dig(x, f"test.{metric}_ci95")) for v, x in zip(values, c, strict=True)]
    sizes = [x.get("size_bytes") for x in c]
    rows = [
        make_row("plan", [x.get("plan") for x in c]),
        make_row("chosen by", [chosen_by(m, x) for m, x in zip(ms, c, strict=True)]),
        make_row("candidate runtime", [x.get("runtime") for x in c]),
        make_row(f"candidate test {metric or 'primary metric'}", values, kind, cells),
        make_row("candidate validation drop", [x.get("quality_drop") for x in c], kind),
        make_row("candidate b1 p50 ms", [dig(x, "profile.latency_ms.b1.p50") for x in c], "ratio"),
        make_row("candidate b1 p95 ms", [dig(x, "profile.latency_ms.b1.p95") for x in c], "ratio"),
        make_row("candidate size", sizes, "ratio", _megabytes(sizes)),
        make_row("candidate sparsity", [x.get("sparsity") for x in c], "pts"),
    ]
    for key in _union(x.get("vs_torch_fp32") or {} for x in c):
        values = [dig(x, f"vs_torch_fp32.{key}") for x in c]
        cells = [f"{show(v)}×" if _is_number(v) else MISSING for v in values]
        rows.append(make_row(f"vs torch fp32: {key}", values, "ratio", cells))
    return rows


def _search_rows(ms: Sequence[Manifest]) -> list[Row]:
    if not any(m.get("search") for m in ms):
        return []
    rows = [
        _field(ms, "objective", "search.objective"),
        _field(ms, "stopped", "search.stopped"),
        make_row("chosen trial", [dig(m, "search.chosen.trial") for m in ms]),
    ]
    for key in _union(dig(m, "search.counts") or {} for m in ms):
        rows.append(_field(ms, f"plans {key.replace('_', ' ')}", f"search.counts.{key}", "diff"))
    return rows


def _timing_rows(ms: Sequence[Manifest]) -> list[Row]:
    rows = []
    for key in _union(m.get("timings") or {} for m in ms):
        values = [dig(m, f"timings.{key}") for m in ms]
        cells = [f"{show(v)} s" if _is_number(v) else MISSING for v in values]
        rows.append(make_row(key.removesuffix("_s"), values, "ratio", cells))
    return rows


def _environment_rows(ms: Sequence[Manifest]) -> list[Row]:
    def cores(m: Manifest) -> str | None:
        env = m.get("environment") or {}
        keys = ("logical_cores", "physical_cores", "affinity_cores")
        return " / ".join(show(env.get(k)) for k in keys) if env else None

    rows = [
        _field(ms, "CPU", "environment.cpu_model"),
        make_row("cores logical / physical / usable", [cores(m) for m in ms]),
        _field(ms, "memory GB", "environment.memory_gb"),
        _field(ms, "Python", "environment.python"),
        _field(ms, "OS", "environment.os"),
    ]
    for lib in _union(dig(m, "environment.libraries") or {} for m in ms):
        rows.append(make_row(lib, [(dig(m, "environment.libraries") or {}).get(lib) for m in ms]))
    return rows


def _config_text(value: Any) -> str:
    """A config value exactly as set (no rounding): two values that differ never look alike."""
    if value is None:
        return MISSING
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _config_differences(ms: Sequence[Manifest]) -> list[Row]:
    """The flattened config keys whose values differ; a key a run lacks (an older zenopt)
    counts as unset, like ``null``."""
    flats = [flatten_config(m.get("config") or {}) for m in ms]
    rows = []
    for key in _union(flats):
        values = [flat.get(key) for flat in flats]
        kind: Kind = "diff" if all(_is_number(v) for v in values) else "text"
        row = make_row(key, values, kind, [_config_text(v) for v in values])
        if row.differs:
            rows.append(row)
    return rows


SECTIONS: tuple[tuple[str, Callable[[Sequence[Manifest]], list[Row]]], ...] = (
    ("quality and verdict", _quality_rows),
    ("requirements: measured (target)", _requirement_rows),
    ("training", _training_rows),
    ("speed (measured in each run)", _speed_rows),
    ("cost", _cost_rows),
    ("compression (the deployed candidate)", _compress_rows),
    ("efficiency search", _search_rows),
    ("instructions (callgrind, 1 thread)", instruction_compare_rows),
    ("timings", _timing_rows),
    ("environment", _environment_rows),
)


def compare_manifests(runs: Sequence[tuple[str, Manifest]]) -> Comparison:
    """Every compared row of ``runs`` (folder as given, manifest); the first run is the one
    the others are measured against."""
    if len(runs) < 2:
        raise ValueError("compare_manifests needs at least two runs")
    names = [name for name, _ in runs]
    ms = [m for _, m in runs]
    sections = [Section("run", tuple(_run_rows(names, ms)))]
    for title, gather in SECTIONS:
        rows = gather(ms)
        if rows:
            sections.append(Section(title, tuple(rows)))
    return Comparison(tuple(names), tuple(sections), tuple(_config_differences(ms)))
