"""The RESULTS.md section of ``bench_serve.py``, from its figures."""

from __future__ import annotations

import statistics
import time
from typing import Any

from zenopt.profile.machine import fingerprint

STAGES = ("parse", "queue", "run", "reply", "app", "own")


def _interval(figure: dict[str, Any], q: int) -> str:
    low, high = figure[f"p{q}_interval_ms"]
    high_text = f"{high:.3f}" if high is not None else "unbounded"
    return f"{figure[f'p{q}_ms']:.3f} ({low:.3f}–{high_text})"


def _spread(values: list[float], digits: int = 0) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}–{max(values):.{digits}f})"
    )


def _header(requests: int) -> list[str]:
    machine = fingerprint()
    flags = " ".join(f for f in ("avx2", "avx512f", "avx512_vnni") if machine["cpu_flags"].get(f))
    return [
        "## Serving under load — the default job's model and its eager FP32 baseline "
        "(`bench_serve.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{machine['cpu_model']} ({machine['affinity_cores']} cores, flags: {flags}). One "
        "`zenopt serve` process on loopback, one worker, the runtime's threads as deployed; "
        f"one-row requests sent open loop by `zenopt.serve.load` in this process (each timed "
        f"from when it was due), {requests} per figure after a warm-up of a tenth; p50/p99 with "
        "distribution-free 95% intervals. Server µs: medians over the requests of their "
        "Server-Timing parts (parse: body to the runtime's batch; queue; run: the runtime call "
        "alone; reply: outputs to the response body; app: all of it; own: app less queue and run, "
        "request by request: the server's own cost, HTTP parsing and writing by uvicorn aside).",
        "",
    ]


def _models(models: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| model | in-process ceiling, calls/s | saturation, answered/s | fraction of ceiling |",
        "|---|--:|--:|--:|",
    ]
    for m in models:
        share = m["saturation"] / m["ceiling"]
        lines.append(f"| {m['label']} | {m['ceiling']:.0f} | {m['saturation']:.0f} | {share:.1%} |")
    lines += ["", "| model | batching | tensors | load | offered/s | p50 ms (95%) | p99 ms (95%) "
              "| answered/s | server µs: " + " / ".join(STAGES) + " |",
              "|---|---|---|--:|--:|--:|--:|--:|---|"]  # fmt: skip
    for m in models:
        for batching, encoding, share, f in m["points"]:
            parts = " / ".join(f"{f['server_us'].get(k, float('nan')):.0f}" for k in STAGES)
            load = f"{share:.0%} | {f['offered_rps']:.0f}"
            lines.append(
                f"| {m['label']} | {batching} | {encoding} | {load} | {_interval(f, 50)} "
                f"| {_interval(f, 99)} | {f['achieved_rps']:.0f} | {parts} |"
            )
    return lines


def _ab(extra: dict[str, Any], key: str, intro: str) -> list[str]:
    lines = [
        "",
        intro + f" The deployed model, binary, `--max-batch 32`, {extra['rounds']} interleaved "
        "rounds (the variants' order reversing each round); median over rounds (min–max). "
        "Server CPU: the server process's user + system CPU per request sent (warm-up "
        "included), all its threads, the runtime's included.",
        "",
        "| offered/s | variant | answered/s | p50 ms | p99 ms | server own µs | app µs "
        "| run µs | server CPU µs/request |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    variants = list(dict.fromkeys(name for name, _ in extra[key]))
    for rate in extra["rates"]:
        for name in variants:
            runs = extra[key][(name, rate)]

            def col(field: str, runs: list[dict[str, Any]] = runs) -> str:
                return _spread([r[field] for r in runs], 3 if field.endswith("ms") else 0)

            def us(part: str, runs: list[dict[str, Any]] = runs) -> str:
                return _spread([r["server_us"][part] for r in runs])

            lines.append(
                f"| {rate:.0f} | `{name}` | {col('achieved_rps')} | {col('p50_ms')} "
                f"| {col('p99_ms')} | {us('own')} | {us('app')} | {us('run')} "
                f"| {col('server_cpu_us')} |"
            )
    return lines


_INLINE = (
    "Inline runtime calls: `--inline-us 0` (every call handed to the inference thread) "
    "against `--inline-us 200` (the default: calls the model answered within 200 µs at "
    "startup run on the server's own thread while it is less than half busy)."
)
_SPIN = (
    "ONNX Runtime's intra-op threads spinning between calls (`--spin`) or sleeping "
    "(`--no-spin`, the default) at 2 threads, and 1 thread (no pool to spin)."
)


def _client(extra: dict[str, Any]) -> list[str]:
    ours, httpx_cpu = extra["clients"]["zenopt.serve.client"], extra["clients"]["httpx"]
    cold = extra["cold"]
    return [
        "",
        f"- The load generator: {_spread(ours)} CPU µs a request at 200/s with its own client "
        f"(asyncio protocols + httptools), against {_spread(httpx_cpu)} with httpx "
        f"({extra['rounds']} interleaved rounds, median (min–max)). With httpx the generator "
        "took the cores the server needed, and the saturation it found was its own.",
        f"- A CPU coming back from idle: parsing one request takes {cold[0.0]:.1f} µs back to "
        f"back, {cold[0.001]:.1f} µs after 1 ms idle and {cold[0.005]:.1f} µs after 5 ms "
        "(median of 300, in process): at a few hundred requests a second every request meets "
        "cold caches, so the server's own cost per request is highest at low load.",
    ]


def section(models: list[dict[str, Any]], extra: dict[str, Any], requests: int) -> str:
    lines = _header(requests) + _models(models)
    lines += _ab(extra, "inline", _INLINE) + _ab(extra, "spin", _SPIN) + _client(extra)
    lines.append("")
    for m in models:
        at = next(f for b, e, s, f in m["points"] if (b, e, s) == ("on", "binary", 0.5))
        lines.append(
            f"- {m['label']}: the server's own cost at 50% of saturation, binary, batching on: "
            f"{at['server_us']['own']:.0f} µs a request (median; the target is ≤ 200 µs); "
            f"saturation {m['saturation']:.0f}/s, {m['saturation'] / m['ceiling']:.1%} of the "
            "model's in-process ceiling (one row a call; behind the server, batching puts "
            "several rows in a call, so a slow model can pass it)."
        )
    return "\n".join(lines)
