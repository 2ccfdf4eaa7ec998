"""The speed a run reports, confirmed once after the choice: the deployed model, PyTorch eager
FP32 and ONNX Runtime FP32 timed in one interleaved session (``bench.confirm_rounds`` rounds,
the order rotated every round). Every headline figure is the median over rounds with a 95%
interval; a speed requirement is met on the interval's cautious end.

A session run while the machine is busy elsewhere, or whose rounds spread too far, is waited
out and redone (``bench.noise_wait_s``, ``bench.noise_retries``); a figure still unsteady after
that is reported with ``noisy`` and the reason. The search's per-trial timings decide between
plans; none of them is reported as the run's result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zenopt.core.config import RequirementsConfig
from zenopt.core.records import RequirementCheck
from zenopt.evaluate.requirements import cautious_check
from zenopt.flow.context import Baseline, RunContext
from zenopt.models.onnx_file import stored_graph
from zenopt.profile.hostlock import timing_section
from zenopt.profile.noise import LoadProbe, NoiseLimits, SystemProbe, wait_until_quiet
from zenopt.profile.session import SessionPlan, SessionTimes, log_interval, time_session
from zenopt.runtime.deployed import DeployedModel

__all__ = ["SpeedConfirmation", "confirm_speed", "speed_checks"]

TORCH, ORT, DEPLOYED = "torch FP32", "onnxruntime FP32", "deployed"
# The runtime requirement each headline figure answers, and whether higher is better.
SPEED_TARGETS = {
    "max_latency_ms": "latency_ms",
    "min_throughput": "throughput",
    "min_latency_speedup": "latency_speedup_vs_torch",
    "min_throughput_speedup": "throughput_speedup_vs_torch",
}


@dataclass(frozen=True)
class SpeedConfirmation:
    figures: dict[str, dict[str, Any]]  # name → median, low, high, spread, rounds, noisy
    session: dict[str, Any]  # models, plan, rounds' load and order, attempts

    def to_dict(self) -> dict[str, Any]:
        return {"figures": self.figures, **self.session}


def _models(
    ctx: RunContext, trained: Baseline, deployed: DeployedModel
) -> tuple[dict[str, tuple[str, Path, int]], str]:
    """The session's models and the name the deployed one goes by (the FP32 export deployed
    as it is *is* one of the baselines, and is timed once)."""
    models = {
        TORCH: ("torch", trained.files["spec"], ctx.threads),
        ORT: ("onnxruntime", trained.files["onnx"], ctx.threads),
    }
    if stored_graph(trained.model) is not None:  # no PyTorch form: the reference is the graph
        del models[TORCH]
    if deployed.folder.resolve() == ctx.run_dir.resolve():
        return models, TORCH if deployed.runtime == "torch" else ORT
    file = deployed.file(deployed.runtime)
    return {DEPLOYED: (deployed.runtime, file, deployed.threads or ctx.threads), **models}, DEPLOYED


def _plan(ctx: RunContext) -> SessionPlan:
    bench, req = ctx.config.bench, ctx.config.requirements
    return SessionPlan(
        latency_batch=req.latency_batch,
        percentile=req.latency_percentile,
        throughput_batch=req.throughput_batch,
        rounds=bench.confirm_rounds,
        repeats=bench.repeats,
        throughput_repeats=max(3, bench.throughput_repeats // 3),
        warmup=min(bench.warmup, 20),
    )


def _figures(times: SessionTimes, deployed: str) -> dict[str, dict[str, Any]]:
    lat, thr = times.latency_ms, times.throughput
    figures = {
        "latency_ms": log_interval(lat[deployed]),
        "throughput": log_interval(thr[deployed]),
    }
    for reference, key in ((TORCH, "torch"), (ORT, "onnxruntime")):
        reference = reference if reference in lat else ORT  # a graph only: ORT for both
        if reference == deployed:  # the same model: 1× in every round, by definition
            same = log_interval([1.0] * len(lat[deployed]))
            figures[f"latency_speedup_vs_{key}"] = figures[f"throughput_speedup_vs_{key}"] = same
            continue
        pairs = zip(lat[reference], lat[deployed], strict=True)
        figures[f"latency_speedup_vs_{key}"] = log_interval([r / d for r, d in pairs])
        pairs = zip(thr[deployed], thr[reference], strict=True)
        figures[f"throughput_speedup_vs_{key}"] = log_interval([d / r for d, r in pairs])
    return {name: value.to_dict() for name, value in figures.items()}


def _rounds_text(rounds: list[int]) -> str:
    """1-based round numbers as ranges: [2, 3, 4, 6] → "rounds 2–4, 6"."""
    spans: list[list[int]] = []
    for r in rounds:
        if spans and r == spans[-1][-1] + 1:
            spans[-1].append(r)
        else:
            spans.append([r])
    text = ", ".join(f"{s[0]}–{s[-1]}" if len(s) > 1 else str(s[0]) for s in spans)
    return ("rounds " if len(rounds) > 1 else "round ") + text


def _judge_noise(
    figures: dict[str, dict[str, Any]], times: SessionTimes, limits: NoiseLimits
) -> bool:
    """Mark each unsteady figure ``noisy`` with its reasons; True when none is."""
    busy = [i + 1 for i, r in enumerate(times.load) if r.busy_elsewhere > limits.busy_cores]
    shared = []
    if busy:
        peak = max(times.load[i - 1].busy_elsewhere for i in busy)
        shared.append(f"{peak:.1f} cores busy elsewhere during {_rounds_text(busy)}")
    steady = True
    for figure in figures.values():
        reasons = list(shared)
        if figure["spread"] > limits.spread:
            reasons.append(f"rounds spread ±{figure['spread']:.0%} (above ±{limits.spread:.0%})")
        figure["noisy"] = "; ".join(reasons) or None
        steady = steady and not reasons
    return steady


def confirm_speed(
    ctx: RunContext,
    trained: Baseline,
    deployed: DeployedModel,
    probe: LoadProbe | None = None,
) -> SpeedConfirmation:
    """Time the deployed model beside both FP32 baselines; redo an unsteady session after a
    wait, ``noise_retries`` times at most, then report what the last one measured."""
    probe = probe or SystemProbe()
    limits = NoiseLimits.from_bench(ctx.config.bench)
    models, name = _models(ctx, trained, deployed)
    plan, pool = _plan(ctx), ctx.splits.val.X
    attempts: list[dict[str, Any]] = []
    for attempt in range(limits.retries + 1):
        with timing_section():  # the quiet check and the session: no epoch starts between
            quiet = wait_until_quiet(probe, limits)
            times = time_session(models, pool, plan, probe)
        figures = _figures(times, name)
        steady = _judge_noise(figures, times, limits)
        attempts.append(
            {
                "before": [r.to_dict() for r in quiet],
                "rounds_busy_elsewhere": [r.busy_elsewhere for r in times.load],
                "steady": steady,
            }
        )
        if steady or attempt == limits.retries:
            break
        time.sleep(limits.wait_s)
    session = {
        "deployed_as": name,
        "models": {
            k: {"runtime": v[0], "file": v[1].name, "threads": v[2]} for k, v in models.items()
        },
        "rounds": plan.rounds,
        "calls_per_round": {"latency": plan.repeats, "throughput": plan.throughput_repeats},
        "latency": f"p{plan.percentile} at batch {plan.latency_batch}",
        "throughput": f"batch {plan.throughput_batch}",
        "order": times.order,
        "attempts": attempts,
        "noisy": not attempts[-1]["steady"],
    }
    return SpeedConfirmation(figures, session)


def speed_checks(req: RequirementsConfig, speed: SpeedConfirmation) -> list[RequirementCheck]:
    """The speed requirements on the confirmed figures, each met on its cautious end."""
    session = speed.session
    units = {"max_latency_ms": "ms", "min_throughput": "samples/s"}
    where = {
        "max_latency_ms": session["latency"],
        "min_throughput": session["throughput"],
        "min_latency_speedup": f"{session['latency']} vs torch eager FP32",
        "min_throughput_speedup": f"{session['throughput']} vs torch eager FP32",
    }
    checks = []
    for target_name, figure_name in SPEED_TARGETS.items():
        target = getattr(req, target_name)
        figure = speed.figures.get(figure_name)
        if target is None or figure is None:
            continue
        detail = f"{where[target_name]}, {session['rounds']} interleaved rounds"
        unit = units.get(target_name, "×")
        checks.append(cautious_check(target_name, target, figure, unit, detail))
    return checks
