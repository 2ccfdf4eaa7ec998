"""11. Serving met? When the requirements name a p99 latency at a request rate, the deployed
model is served by ``zenopt serve`` on loopback and measured under open-loop load; the
serving knobs are searched against the target within ``serve.budget_s``."""

from __future__ import annotations

from typing import Any

from zenopt.core.records import RequirementCheck
from zenopt.flow.context import RunContext, RunRecord
from zenopt.runtime.deployed import deployed_model

__all__ = ["serve_stage", "serving_check"]


def serving_check(result: dict[str, Any]) -> RequirementCheck:
    """``serve_p99_ms`` met on the upper end of the p99's interval, with no failed request."""
    at = result["at_rate"]
    low, high = at["p99_interval_ms"]
    errors = sum(at["errors"].values())
    end = (
        f"judged on the upper end, {high:.4g}"
        if high is not None
        else f"its upper end is unbounded with {at['answered']} answered requests (set "
        "serve.requests to 1000 or more)"
    )
    detail = (
        f"p99 at {result['rate']:g} requests/s ({at['answered']} answered, open loop) with "
        f"{_knobs(result['chosen'])}; {end}"
        + (f"; {errors} requests failed ({at['errors']})" if errors else "")
    )
    return RequirementCheck(
        "serve_p99_ms", "efficiency", result["target_p99_ms"], at["p99_ms"],
        bool(result["met"]), "ms", detail, [low, high] if high is not None else None,
    )  # fmt: skip


def _knobs(knobs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in knobs.items() if v is not None)


def serve_stage(ctx: RunContext, record: RunRecord) -> list[RequirementCheck]:
    """The serving requirement's check (none when it is not set)."""
    from zenopt.serve.model import load_served
    from zenopt.serve.tuning import sample_request, search_serving

    req = ctx.config.requirements
    if req.serve_p99_ms is None or req.serve_rate is None:
        return []
    record.save()  # the server reads the run's manifest
    folder = deployed_model(ctx.run_dir, record.manifest).folder
    served = load_served(folder, None, None, complete=False)
    encoder = (record.manifest["model"].get("inputs") or {}).get("encoder")
    request = sample_request(
        served.signature, ctx.splits.test.X[0], encoder, ctx.config.serve.binary
    )
    if not ctx.quiet:
        ctx.console.print(
            f"serving: searching the serving knobs for p99 ≤ {req.serve_p99_ms:g} ms at "
            f"{req.serve_rate:g} requests/s (budget {ctx.config.serve.budget_s:g} s)"
        )
    with record.timed("serve_s"):
        result = search_serving(folder, request, req.serve_p99_ms, req.serve_rate, ctx.config.serve)
    record.manifest["serve"] = result
    check = serving_check(result)
    if not ctx.quiet:
        ctx.console.print(f"serving: {check.detail}", markup=False)
    return [check]
