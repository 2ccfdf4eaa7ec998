"""What every trial of the efficiency search shares, and the search's records on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from zenopt.compress.candidate import Measured
from zenopt.compress.prefix_cache import PrefixCache, model_digest
from zenopt.compress.search_summary import read_records, write_summary
from zenopt.core.compress_config import Step
from zenopt.core.config import RunConfig
from zenopt.core.records import json_default
from zenopt.core.rundir import atomic_write_text
from zenopt.evaluate.metrics import primary_metric
from zenopt.flow.candidate import measure_baseline
from zenopt.flow.context import Baseline, RunContext

__all__ = [
    "FREE_TRIALS",
    "SearchSetup",
    "measured_records",
    "plan_of",
    "quality_budget",
    "search_setup",
    "write_record",
]

# Trials that take seconds (a plan drawn again, answered from its first measurement, or one
# rejected before training) do not count toward compress.search.trials, up to this many per
# counted plan: the budget goes to plans trained and measured.
FREE_TRIALS = 3

_STEPS: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


@dataclass
class SearchSetup:
    """Everything a trial needs, fixed for the whole search (but the counters at the end)."""

    ctx: RunContext
    baseline: Baseline  # the trained FP32 model (the teacher, too) and its files
    measured: dict[str, Measured]  # torch and onnxruntime FP32, measured as candidates are
    folder: Path  # trials, cache, front.json, best.json
    budget: float  # the quality-drop budget, in requirements.quality_drop_mode units
    cache: PrefixCache
    higher: bool = True  # the primary metric is better when higher
    study: Any = None  # the search's study (set by drive_search): free allowance, repeats
    progress: Any = None  # called with a short text while a trial works
    last: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> RunConfig:
        return self.ctx.config

    def summarise(self) -> dict[str, Any]:
        """Rebuild ``front.json`` and ``best.json`` from the trials on disk; the summary."""
        return write_summary(self.folder, self.config, self.higher)


def quality_budget(config: RunConfig) -> float:
    """The quality drop a candidate may cost: ``requirements.max_quality_drop``, or the search's
    ``default_drop`` when the requirements leave it open."""
    drop = config.requirements.max_quality_drop
    return config.compress.search.default_drop if drop is None else drop


def search_setup(ctx: RunContext, baseline: Baseline, folder: Path) -> SearchSetup:
    """The FP32 baseline measured on this machine (on the validation split), and everything a
    trial needs. ``ctx`` holds no test split (``RunContext.selection``)."""
    _, sense = primary_metric(ctx.task)
    return SearchSetup(
        ctx=ctx,
        baseline=baseline,
        measured=measure_baseline(ctx, baseline),
        folder=folder,
        budget=quality_budget(ctx.config),
        cache=PrefixCache(folder / "cache", model_digest(baseline.model), ctx.config.seed),
        higher=sense == "max",
    )


def plan_of(params: dict[str, Any]) -> list[Step]:
    return _STEPS.validate_python(params["steps"])


def measured_records(folder: Path) -> list[dict[str, Any]]:
    """The records of the plans trained and measured so far (by any worker), oldest first."""
    return [record for record in read_records(folder) if "acceptance" in record]


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """A trial's ``candidate.json`` (the FP32 baselines it was measured against stay out: every
    trial shares them, in ``baseline.json``)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({k: v for k, v in record.items() if k != "baseline"}, default=json_default)
    atomic_write_text(folder / "candidate.json", text + "\n")
