"""Serving under load: the default job's deployed model and its PyTorch eager FP32 baseline
behind the same ``zenopt serve``, measured open loop (``zenopt.serve.load``).

For each model:

1. the in-process ceiling: the same model called directly, one row per call, in its runtime
   (calls per second, median of 5 rounds of 2 s);
2. the saturation rate: rising offered rates (binary tensors, batching on) until the server
   answers under 90% of what was offered; the most answered per second;
3. p50/p99 (with 95% intervals) at 50% and 80% of that rate, batching off (``--max-batch 1``)
   and on (``--max-batch 32 --max-delay-us 500``), JSON and binary;
4. where the time went in the server at 50%, binary, batching on (mean µs per request from its
   metrics): the server's own cost is everything but the runtime call.

The eager baseline is the run's FP32 model served in PyTorch (``zenopt compress RUN --plan
'runtime(name=torch)'``, made once). Needs a finished ``make run`` (runs/default).

    .venv/bin/python benchmarks/bench_serve.py [--run runs/default] [--requests 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.cli.app import app
from zenopt.core.config import RunConfig
from zenopt.core.serve_config import ServeConfig
from zenopt.profile.machine import fingerprint
from zenopt.serve.model import load_runtime, load_served
from zenopt.serve.tuning import Knobs, measure, sample_request, serving

BATCHED = Knobs(max_batch=32, max_delay_us=500)
UNBATCHED = Knobs(max_batch=1, max_delay_us=0)


def _eager(run: Path) -> Path:
    folder = run / "compressed" / "bench-eager"
    if not (folder / "candidate.json").is_file():
        args = ["compress", str(run), "--plan", "runtime(name=torch)", "--name", "bench-eager"]
        CliRunner().invoke(app, [*args, "-q"])
    return folder


def _ceiling(path: Path) -> float:
    """One-row calls per second of the model in its runtime, in this process."""
    served = load_served(path, None, None)
    loaded = load_runtime(served, 1)
    shape = tuple(served.manifest["model"]["input_shape"])
    x = np.zeros((1, *shape), dtype=np.float32)
    rounds = []
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < 2.0:
            loaded.executor.submit(loaded.run, x).result()
            calls += 1
        rounds.append(calls / (time.perf_counter() - start))
    loaded.close()
    return statistics.median(rounds)


def _request(path: Path, binary: bool) -> tuple[bytes, dict[str, str]]:
    served = load_served(path, None, None)
    manifest = served.manifest
    config = RunConfig.model_validate(manifest["config"])
    from zenopt.flow.data import prepare_data

    row = prepare_data(config).prepared.splits.test.X[0]
    encoder = (manifest["model"].get("inputs") or {}).get("encoder")
    return sample_request(served.signature, row, encoder, binary)


def _saturation(path: Path, request: tuple[bytes, dict[str, str]], config: ServeConfig) -> float:
    best = 0.0
    with serving(path, BATCHED) as url:
        rate = 100.0
        while rate < 20000:
            point = measure(url, request, rate, config)
            best = max(best, point["achieved_rps"])
            if point["achieved_rps"] < 0.9 * rate or point["errors"]:
                break
            rate *= 2
    return best


def _model(label: str, path: Path, requests: int) -> dict[str, Any]:
    config = ServeConfig(requests=requests)
    binary, json_body = _request(path, True), _request(path, False)
    out: dict[str, Any] = {"label": label, "ceiling": _ceiling(path)}
    out["saturation"] = _saturation(path, binary, config)
    out["points"] = []
    for knobs, batching in ((UNBATCHED, "off"), (BATCHED, "on")):
        with serving(path, knobs) as url:
            for encoding, request in (("binary", binary), ("JSON", json_body)):
                for share in (0.5, 0.8):
                    figure = measure(url, request, share * out["saturation"], config)
                    out["points"].append((batching, encoding, share, figure))
    return out


def _interval(figure: dict[str, Any], q: int) -> str:
    low, high = figure[f"p{q}_interval_ms"]
    high_text = f"{high:.3f}" if high is not None else "unbounded"
    return f"{figure[f'p{q}_ms']:.3f} ({low:.3f}–{high_text})"


def _section(models: list[dict[str, Any]], requests: int) -> str:
    machine = fingerprint()
    flags = " ".join(f for f in ("avx2", "avx512f", "avx512_vnni") if machine["cpu_flags"].get(f))
    lines = [
        "## Serving under load — the default job's model and its eager FP32 baseline "
        "(`bench_serve.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{machine['cpu_model']} ({machine['affinity_cores']} cores, flags: {flags}). One "
        f"`zenopt serve` process on loopback, one worker; one-row requests sent open loop by "
        f"`zenopt.serve.load` in this process (each timed from when it was due), {requests} "
        "per figure after a warm-up of a tenth; p50/p99 with distribution-free 95% intervals.",
        "",
        "| model | in-process ceiling, calls/s | saturation, answered/s | fraction of ceiling |",
        "|---|--:|--:|--:|",
    ]
    for m in models:
        share = m["saturation"] / m["ceiling"]
        lines.append(f"| {m['label']} | {m['ceiling']:.0f} | {m['saturation']:.0f} | {share:.1%} |")
    lines += ["", "| model | batching | tensors | load | offered/s | p50 ms (95%) | p99 ms (95%) "
              "| answered/s | server µs: parse / queue / runtime / reply / whole |",
              "|---|---|---|--:|--:|--:|--:|--:|---|"]  # fmt: skip
    for m in models:
        for batching, encoding, share, f in m["points"]:
            us = f.get("server_us", {})
            stages = ("parse", "queue", "runtime", "reply", "server")
            parts = " / ".join(f"{us.get(k, float('nan')):.0f}" for k in stages)
            load = f"{share:.0%} | {f['offered_rps']:.0f}"
            lines.append(
                f"| {m['label']} | {batching} | {encoding} | {load} | {_interval(f, 50)} "
                f"| {_interval(f, 99)} | {f['achieved_rps']:.0f} | {parts} |"
            )
    lines.append("")
    for m in models:
        at = next(f for b, e, s, f in m["points"] if (b, e, s) == ("on", "binary", 0.5))
        own = at["server_us"]["server"] - at["server_us"]["runtime"]
        lines.append(
            f"- {m['label']}: the server's own cost at 50% load, binary, batching on: "
            f"{own:.0f} µs a request (mean: whole {at['server_us']['server']:.0f} less the "
            f"runtime call {at['server_us']['runtime']:.0f}; the target is ≤ 200 µs); "
            f"saturation {m['saturation']:.0f}/s, {m['saturation'] / m['ceiling']:.1%} of the "
            "model's in-process ceiling."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/default"))
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    models = [
        _model("deployed (" + load_served(args.run, None, None).label + ")", args.run,
               args.requests),
        _model("PyTorch eager FP32", _eager(args.run), args.requests),
    ]  # fmt: skip
    section = _section(models, args.requests)
    print(section)
    write_section("serve", section)


if __name__ == "__main__":
    main()
