"""Console tables of a run, rendered from its manifest."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from zenopt.report.format import format_value as _fmt

__all__ = [
    "death_line",
    "drop_line",
    "per_class_recall",
    "print_candidate",
    "print_deaths",
    "print_profile",
    "print_run_summary",
    "print_search",
    "print_speed",
]


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
        interval = r.get("interval")
        span = f" ({_fmt(interval[0])}–{_fmt(interval[1])})" if interval else ""
        noisy = f" [yellow]noisy: {r['noisy']}[/]" if r.get("noisy") else ""
        table.add_row(
            escape(r["name"]),  # min_class_recall[relapse] is not Rich markup
            f"{_fmt(r['target'])}{unit}",
            f"{_fmt(r['measured'])}{unit}{span}",
            verdict,
            r["detail"] + noisy,
        )
    if requirements:
        console.print(table)
    else:
        console.print("[dim]no requirements set[/]")
    _print_data(manifest.get("data", {}), console)
    _print_test(manifest.get("quality", {}), console)
    if manifest.get("speed"):
        print_speed(manifest["speed"], console)
    if manifest.get("profile"):
        print_profile(manifest["profile"], console)
    cost = manifest.get("cost", {})
    if cost:
        sizes = ", ".join(f"{k} {v / 1e6:.3f} MB" for k, v in cost["size_bytes"].items())
        console.print(f"params {cost['params']:,} · FLOPs/sample {cost['flops']:,} · {sizes}")
    if manifest.get("search"):
        print_search(manifest["search"], console)
    for loop in ("tune", "search"):
        print_deaths((manifest.get(loop) or {}).get("deaths") or [], loop, console)
    counts = (manifest.get("analysis") or {}).get("instructions") or {}
    if counts.get("models"):
        from zenopt.report.analysis_console import print_instructions

        print_instructions(counts, console)
    elif counts.get("skipped"):
        console.print(f"[yellow]instructions not counted:[/] {escape(counts['skipped'])}")
    for decision in manifest.get("decisions", {}).values():
        ran = {"quality": "tune", "efficiency": "search"}.get(decision["loop"], "")
        if decision["loop"] == "confirmation" and not decision["met"]:
            console.print(f"[bold red]confirmation[/]: {escape(decision['action'])}")
        elif not decision["met"] or ran in manifest:
            console.print(f"[yellow]{decision['loop']} loop[/]: {escape(decision['action'])}")


def _print_data(data: dict[str, Any], console: Console) -> None:
    """Where the splits came from, when not all carved from data.source, and the data's
    warnings (a given test file's unseen categories, rows repeated across splits …)."""
    sources, sizes = data.get("split_sources") or {}, data.get("splits") or {}
    if any(source != "data.source" for source in sources.values()):
        parts = [f"{k} {sizes.get(k, '?')} rows from {v}" for k, v in sources.items()]
        console.print(escape("splits: " + " · ".join(parts)), highlight=False)
    for note in data.get("warnings") or []:
        console.print(f"[yellow]data warning:[/] {escape(note)}", highlight=False)


def _print_test(quality: dict[str, Any], console: Console) -> None:
    """The deployed model's quality on the test split (which confirmed it, once)."""
    test = quality.get("test", {})
    model = (quality.get("test_model") or {}).get("label", "the trained model")
    if "accuracy" in test:
        low, high = test["accuracy_ci95"]
        console.print(
            f"test accuracy [bold]{test['accuracy']:.4f}[/] (95% CI {low:.4f}–{high:.4f}, "
            f"n={test['n']}) · macro F1 {test['f1_macro']:.4f} · {model}"
        )
    elif test:
        console.print(
            f"test MSE [bold]{_fmt(test['mse'])}[/] · MAE {_fmt(test['mae'])} · "
            f"R² {_fmt(test['r2'])} · {model}"
        )
    recall = per_class_recall(test, quality.get("trained_test") or {})
    if recall:
        console.print(f"test recall by class (trained model in brackets): {escape(recall)}")
    drop = quality.get("test_drop")
    if drop:
        low, high = drop["interval"]
        paired = (
            f"; {drop['fixed']} rows fixed, {drop['broken']} broken, McNemar p="
            f"{_fmt(drop['mcnemar_p'])}"
            if "fixed" in drop
            else ""
        )
        console.print(
            f"test drop against the trained model {_fmt(drop['drop'])} ({drop['mode']} "
            f"{drop['metric']}; paired 95% CI {_fmt(low)} to {_fmt(high)}{paired})"
        )


def per_class_recall(test: dict[str, Any], trained: dict[str, Any], most: int = 10) -> str:
    """``benign 0.986 (0.972) · malignant 0.93 (0.95)``: each class's recall on the test split,
    the trained model's beside it; past ``most`` classes, the ``most`` lowest."""
    per_class = test.get("per_class") or {}
    before = trained.get("per_class") or {}
    names = sorted(per_class, key=lambda c: per_class[c]["recall"])[:most]
    names = [c for c in per_class if c in names]  # in the classes' own order
    parts = []
    for name in names:
        was = before.get(name, {}).get("recall")
        parts.append(
            f"{name} {_fmt(per_class[name]['recall'])}"
            + (f" ({_fmt(was)})" if was is not None else "")
        )
    lowest = f" (the {most} lowest of {len(per_class)})" if len(per_class) > most else ""
    return " · ".join(parts) + lowest


def print_search(search: dict[str, Any], console: Console) -> None:
    """The Pareto front of the efficiency search (or, with none feasible, the closest plans),
    with ratios to PyTorch eager FP32: × = times faster, or times smaller."""
    feasible = search["chosen"] is not None
    shown = [r for r in search["candidates"] if r["trial"] in set(search["front"])]
    title = "efficiency search: Pareto front" if feasible else "efficiency search: closest"
    if not feasible:
        shown = search["closest"]
    table = Table(title=f"{title} (quality on validation)", title_justify="left")
    # Plans are long: they follow the table, one line each, so no terminal width cuts them.
    for column in ("trial", search["metric"], "drop", "×b1", "×b256", "×size", "verdict"):
        table.add_column(column, justify="left" if column == "verdict" else "right")
    for r in shown:
        ratios = r["vs_torch_fp32"] or {}
        if r["feasible"]:
            verdict = "[green]feasible[/]" + (
                " [bold](chosen)[/]" if r["trial"] == search["chosen"]["trial"] else ""
            )
        else:
            misses = r["missed"] + ([] if r["accepted"] else ["acceptance"])
            verdict = "[red]misses " + escape(", ".join(misses)) + "[/]"
        table.add_row(
            str(r["trial"]),
            _fmt(r["validation"]),
            _fmt(r["quality_drop"]),
            _fmt(ratios.get("latency_b1_p50")),
            _fmt(ratios.get("throughput_b256")),
            _fmt(ratios.get("size")),
            verdict,
        )
    console.print(table)
    for r in shown:  # unwrapped, so that a plan copies whole from any terminal
        console.print(
            f"  trial {r['trial']}: {r['plan']}", highlight=False, markup=False, soft_wrap=True
        )
    if search.get("reproduce"):
        console.print(f"[dim]reproduce the chosen plan: {search['reproduce']}[/]")


def _clock(stamp: str | None) -> str:
    """``12:01:07`` from an ISO time (UTC in the manifest)."""
    return stamp[11:19] if stamp and len(stamp) >= 19 else "—"


def death_line(death: dict[str, Any]) -> str:
    """``trial 3 (host:41) died: silent 31 s after its last heartbeat, failed at 12:01:07 UTC,
    re-run as trial 9 by host:57 (complete)``: one trial whose worker died, from a study
    summary's ``deaths``."""
    how = "was interrupted" if death["state"] == "interrupted" else "died"
    worker = f" ({death['worker']})" if death.get("worker") else ""
    silent, since = death.get("silent_s"), death.get("silent_since")
    failed = f"failed at {_clock(death.get('failed_at'))} UTC"
    if silent is not None and since == "heartbeat":
        parts = [f"silent {_fmt(silent, 2)} s after its last heartbeat", failed]
    elif silent is not None:
        parts = ["no heartbeat recorded", f"{failed}, {_fmt(silent, 2)} s after its start"]
    else:
        parts = [failed]
    rerun = death.get("rerun")
    if rerun is None:
        parts.append("not re-run (tune.retries spent)")
    else:
        by = f" by {rerun['worker']}" if rerun.get("worker") else ""
        parts.append(f"re-run as trial {rerun['number']}{by} ({rerun['state']})")
    return f"trial {death['number']}{worker} {how}: " + ", ".join(parts)


def print_deaths(deaths: list[dict[str, Any]], loop: str, console: Console) -> None:
    """One line per trial whose worker died, under the name of its study (``tune``: the
    quality loop, ``search``: the efficiency search)."""
    name = {"tune": "quality loop", "search": "efficiency search"}.get(loop, loop)
    for death in deaths:
        line = f"[yellow]{name}[/]: " + escape(death_line(death))
        console.print(line, highlight=False, soft_wrap=True)  # one line, whatever the width


SPEED_NAMES = {
    "latency_ms": "latency ms",
    "throughput": "samples/s",
    "latency_speedup_vs_torch": "× latency vs torch fp32",
    "throughput_speedup_vs_torch": "× throughput vs torch fp32",
    "latency_speedup_vs_onnxruntime": "× latency vs ort fp32",
    "throughput_speedup_vs_onnxruntime": "× throughput vs ort fp32",
}


def print_speed(speed: dict[str, Any], console: Console) -> None:
    """The headline figures of the final interleaved session, each with its interval."""
    state = "noisy" if speed.get("noisy") else "steady"
    title = (
        f"headline speed: {speed['rounds']} interleaved rounds, {speed['latency']}, "
        f"{speed['throughput']} ({state})"
    )
    table = Table(title=title, title_justify="left")
    for column in ("figure", "median", "95% interval", "noise"):
        table.add_column(column, justify="left" if column in {"figure", "noise"} else "right")
    no_torch = "models" in speed and "torch FP32" not in speed["models"]
    for name, f in speed["figures"].items():
        if no_torch and name.endswith("_vs_torch"):  # a model kept as its ONNX graph
            continue
        noise = f"[yellow]{f['noisy']}[/]" if f.get("noisy") else "steady"
        table.add_row(
            SPEED_NAMES.get(name, name),
            _fmt(f["median"]),
            f"{_fmt(f['low'])}–{_fmt(f['high'])}",
            noise,
        )
    console.print(table)


def print_profile(profiles: dict[str, Any], console: Console) -> None:
    table = Table(title="profile (each runtime on its own, once)", title_justify="left")
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


def print_candidate(record: dict[str, Any], checks: list[Any], console: Console) -> None:
    """The FP32 baselines and the candidate, each in its runtime, with ratios to PyTorch eager
    FP32 (× = times faster, or times smaller): each measured once on the validation split,
    then the headline figures of the interleaved session the requirements are judged on."""
    title = f"plan: {record['plan']} (each model timed once, on validation rows)"
    table = Table(title=title, title_justify="left")
    metric = record["primary_metric"]
    columns = ("model", f"val {metric}", "b1 p50 ms", "b256 /s", "MB", "×b1", "×b256", "×size")
    for column in columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    rows = [(f"fp32 {name}", m["quality"], m, None) for name, m in record["baseline"].items()]
    rows.append(
        (f"candidate {record['runtime']}", record["validation"], record, record["vs_torch_fp32"])
    )
    for label, quality, m, ratio in rows:
        lat, thr = m["profile"]["latency_ms"]["b1"], m["profile"]["throughput"]
        table.add_row(
            label,
            f"{quality[metric]:.4f}",
            f"{lat['p50']:.3f}",
            f"{thr['b256']:,.0f}",
            f"{m['size_bytes'] / 1e6:.2f}",
            *(
                ("1.0", "1.0", "1.0")
                if ratio is None and label == "fp32 torch"
                else ("", "", "")
                if ratio is None
                else (
                    f"{ratio['latency_b1_p50']:.1f}",
                    f"{ratio['throughput_b256']:.1f}",
                    f"{ratio['size']:.1f}",
                )
            ),
        )
    console.print(table)
    if record.get("speed"):
        print_speed(record["speed"], console)
    for split in ("validation", "test"):
        if split in record:
            console.print(f"candidate on the {split} split: " + drop_line(record, split))
    checked = record.get("fidelity")
    if checked:
        console.print(
            f"fidelity: {checked['agreement']:.2%} top-1 agreement with {checked['against']} "
            f"on {checked['rows']} validation rows, max |difference| "
            f"{_fmt(checked['max_abs_diff'])}"
        )
    for note in record["notes"]:
        console.print(f"[dim]{note['step']}: " + _note(note) + "[/]")
    for check in checks:
        verdict = "[green]met[/]" if check.met else "[bold red]missed[/]"
        low, high = check.interval or (None, None)
        span = f" (95% CI {_fmt(low)}–{_fmt(high)})" if check.interval else ""
        noisy = f" [yellow]noisy: {check.noisy}[/]" if check.noisy else ""
        console.print(
            f"{escape(check.name)}: {_fmt(check.measured)}{span} vs target {_fmt(check.target)} "
            f"{verdict}{noisy}"
        )


def drop_line(record: dict[str, Any], split: str) -> str:
    """A candidate's quality and paired drop on one split, in one line."""
    quality, drop = record[split], record["drop"][split]
    metric = drop["metric"]
    ci = quality.get(f"{metric}_ci95")
    interval = f" (95% CI {ci[0]:.4f}–{ci[1]:.4f})" if ci else ""
    low, high = drop["interval"]
    line = (
        f"{metric} {quality[metric]:.4f}{interval}, n={quality.get('n')}; drop against fp32 "
        f"torch {_fmt(drop['drop'])} ({drop['mode']}; paired 95% CI {_fmt(low)} to {_fmt(high)}"
    )
    if "fixed" in drop:
        line += (
            f"; {drop['fixed']} rows fixed, {drop['broken']} broken, McNemar p="
            f"{_fmt(drop['mcnemar_p'])}"
        )
    return line + ")"


def _note(note: dict[str, Any]) -> str:
    skip = {"step"}
    return ", ".join(f"{k}={_fmt(v)}" for k, v in note.items() if k not in skip)
