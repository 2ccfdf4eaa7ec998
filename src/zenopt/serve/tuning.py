"""The serving knobs searched against a p99 target: each configuration is a real
``zenopt serve`` process on loopback, measured with open-loop load (``serve/load.py``).

1. A small Optuna study draws ``--max-batch``, ``--max-delay-us``, ``--workers``,
   ``--threads`` and ``--inline-us`` from ``serve:``; each trial serves the deployed model
   with them, sends ``serve.requests`` one-row requests at ``requirements.serve_rate`` and
   scores the cautious (upper) end of the p99's interval. Trials stop when 60% of
   ``serve.budget_s`` is spent.
2. The best configuration is then loaded at rising rates (½×, 1×, 2×, 4×… the target rate)
   until its p99 misses the target, the server stops keeping up or the rest of the budget is
   spent (two rates at least): the latency-vs-rate curve, the highest rate that meets the
   target, and the saturation rate (a lower bound when no rate saturated the server).
3. Every figure says where a request's time went in the server (parse, queue, runtime call,
   reply, the whole app and its own part: all but the runtime call), as medians of the
   server's per-request Server-Timing headers, and what the load generator itself used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from zenopt.core.serve_config import ServeConfig
from zenopt.serve.load import run_load
from zenopt.serve.process import served
from zenopt.serve.signature import Signature
from zenopt.serve.tensors import tensor_entry

__all__ = ["Knobs", "sample_request", "search_serving", "serving"]

_SEARCH_SHARE = 0.6  # of serve.budget_s for the knobs; the rest for the latency-vs-rate curve


@dataclass(frozen=True)
class Knobs:
    max_batch: int = 64
    max_delay_us: int = 0
    workers: int = 1
    threads: int | None = None
    inline_us: int = 200

    def options(self) -> list[str]:
        out = ["--max-batch", str(self.max_batch), "--max-delay-us", str(self.max_delay_us)]
        out += ["--workers", str(self.workers), "--inline-us", str(self.inline_us)]
        return out + ([] if self.threads is None else ["--threads", str(self.threads)])


def _columns(signature: Signature, row: np.ndarray, encoder: dict[str, Any]) -> list[Any]:
    """A table row of the model's input (numeric, then encoded categorical) as the columns
    the server takes: a one-hot block back to its category."""
    out, at = [], 0
    categories = encoder.get("categories", {})
    for info in signature.inputs:
        if info.datatype != "BYTES":
            out.append((info.name, "FP64", row[at : at + 1].astype(np.float64)))
            at += 1
            continue
        names = categories[info.name]
        if encoder.get("method") == "ordinal":
            index, at = int(row[at]), at + 1
        else:
            index, at = int(np.argmax(row[at : at + len(names)])), at + len(names)
        out.append((info.name, "BYTES", np.asarray([names[max(index, 0)]], dtype=object)))
    return out


def sample_request(
    signature: Signature, row: np.ndarray, encoder: dict[str, Any] | None, binary: bool
) -> tuple[bytes, dict[str, str]]:
    """An infer request body (and its headers) for one row of the model's input."""
    if signature.kind == "columns":
        tensors = _columns(signature, row, encoder or {})
    else:
        tensors = [("input", "FP32", row[None].astype(np.float32))]
    entries, blobs = zip(*(tensor_entry(n, d, a, binary) for n, d, a in tensors), strict=True)
    # as a response's outputs are written: orjson writes a missing value (NaN) as null
    head = orjson.dumps({"inputs": list(entries)}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not binary:
        return head, {"Content-Type": "application/json"}
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


@contextmanager
def serving(path: Path, knobs: Knobs, ready_s: float = 60.0) -> Iterator[str]:
    """``zenopt serve PATH`` with ``knobs`` on a free loopback port (the run is still being
    written: ``--in-progress``); its model's URL once ready."""
    with served(path, "--in-progress", *knobs.options(), ready_s=ready_s) as server:
        yield server.model_url


def measure(
    url: str, request: tuple[bytes, dict[str, str]], rate: float, config: ServeConfig
) -> dict[str, Any]:
    """One latency figure at ``rate``: open-loop load after a short warm-up, with where the
    time went in the server (``server_us``: medians over the requests)."""
    body, headers = request
    warm_up = max(10, config.requests // 10)  # the server's caches and the runtime warm
    run_load(f"{url}/infer", body, headers, rate, warm_up, config.arrivals)
    return run_load(f"{url}/infer", body, headers, rate, config.requests, config.arrivals).to_dict()


def _upper(figure: dict[str, Any]) -> float:
    """The p99's cautious end; unbounded when too few requests were answered."""
    high = figure["p99_interval_ms"][1]
    return float("inf") if high is None or figure["errors"] else float(high)


def _met(figure: dict[str, Any], target_ms: float) -> bool:
    return _upper(figure) <= target_ms


def search_serving(
    path: Path, request: tuple[bytes, dict[str, str]], target_ms: float, rate: float,
    config: ServeConfig,
) -> dict[str, Any]:  # fmt: skip
    """The serving knobs with the lowest cautious p99 at ``rate``, and their curve."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # zenopt reports progress itself
    started = time.monotonic()
    deadline = started + _SEARCH_SHARE * config.budget_s  # the rest is the curve's
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=4))
    trials: list[dict[str, Any]] = []
    seen: set[Knobs] = set()
    while time.monotonic() < deadline and len(seen) < _combinations(config):
        trial = study.ask()
        knobs = Knobs(
            trial.suggest_categorical("max_batch", config.max_batch),
            trial.suggest_categorical("max_delay_us", config.max_delay_us),
            trial.suggest_categorical("workers", config.workers),
            _threads(trial.suggest_categorical("threads", config.threads)),
            trial.suggest_categorical("inline_us", config.inline_us),
        )
        if knobs in seen:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        seen.add(knobs)
        with serving(path, knobs) as url:
            figure = measure(url, request, rate, config)
        trials.append({"knobs": asdict(knobs), **figure})
        study.tell(trial, min(_upper(figure), 1e12))
    best = min(trials, key=lambda t: (_upper(t), t["p99_ms"] or float("inf")))
    chosen = Knobs(**best["knobs"])
    curve = _curve(path, request, chosen, target_ms, rate, config, started + config.budget_s)
    met_rates = [p["offered_rps"] for p in curve if _met(p, target_ms)]
    return {
        "target_p99_ms": target_ms,
        "rate": rate,
        "chosen": asdict(chosen),
        "at_rate": best,
        "met": _met(best, target_ms),
        "trials": trials,
        "curve": curve,
        "max_rate_met": max(met_rates) if met_rates else None,
        "saturation_rps": max(p["achieved_rps"] for p in curve),
        # whether some rate was more than the server could answer: if not, the saturation
        # rate is only a lower bound (the budget ended first)
        "saturated": any(not _keeping_up(p) for p in curve),
    }


def _keeping_up(point: dict[str, Any]) -> bool:
    return bool(point["achieved_rps"] >= 0.9 * point["offered_rps"] and not point["errors"])


def _threads(value: Any) -> int | None:
    return None if value is None else int(value)


def _combinations(config: ServeConfig) -> int:
    return (
        len(set(config.max_batch)) * len(set(config.max_delay_us)) * len(set(config.workers))
        * len(set(config.threads)) * len(set(config.inline_us))
    )  # fmt: skip


def _curve(
    path: Path, request: tuple[bytes, dict[str, str]], knobs: Knobs, target_ms: float,
    rate: float, config: ServeConfig, deadline: float,
) -> list[dict[str, Any]]:  # fmt: skip
    """Latency at ½×, 1×, 2×, 4×… the target rate, until the target is missed, the server
    falls behind (answers under 90% of what was offered) or the budget is spent (at least two
    points)."""
    points: list[dict[str, Any]] = []
    with serving(path, knobs) as url:
        for factor in (0.5, 1, 2, 4, 8, 16, 32):
            point = measure(url, request, rate * factor, config)
            points.append(point)
            if not (_met(point, target_ms) and _keeping_up(point)) and factor >= 1:
                break
            if time.monotonic() > deadline and len(points) >= 2:
                break
    return points
