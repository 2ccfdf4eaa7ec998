"""The efficiency loop: "efficiency met? no → compress / quantize → measure again".

An Optuna study (multi-objective: quality, speed, size) draws compression plans from
``compress.search.space``; each trial is checked for speed before any training, applied with
cached prefixes, measured in its runtime and judged by the acceptance rule (see ``trial``). The
study lives in the quality loop's storage (the run's SQLite file by default), so ``zenopt run
--resume`` continues it; the trials' folders and ``front.json`` / ``best.json`` are rewritten
after every candidate.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zenopt.compress import plan_label
from zenopt.compress._base import has_vnni
from zenopt.compress.search_space import ladder, precisions, sample_plan
from zenopt.core.config import RunConfig
from zenopt.core.errors import SearchError
from zenopt.core.rundir import atomic_write_text
from zenopt.evaluate.metrics import primary_metric
from zenopt.evaluate.paired import resolve_drop_mode
from zenopt.flow.context import Baseline, RunContext
from zenopt.flow.efficiency.setup import SearchSetup, quality_budget, search_setup
from zenopt.flow.efficiency.trial import make_search_trial, objective_values
from zenopt.profile.machine import fingerprint
from zenopt.report.progress import SearchProgress
from zenopt.tune.hosts import ThreadBudget
from zenopt.tune.search import SearchSnapshot, run_search
from zenopt.tune.storage import default_study_name, open_storage, redact, storage_url
from zenopt.tune.study import (
    ATTR_CONFIG,
    ATTR_SETUP,
    fail_interrupted,
    open_study,
    resumed_seed,
)
from zenopt.tune.summary import trial_deaths

__all__ = [
    "SEARCH_FOLDER",
    "EfficiencyResult",
    "drive_search",
    "run_efficiency_loop",
    "search_sampler",
    "search_study_name",
]

SEARCH_FOLDER = "search"


@dataclass(frozen=True)
class EfficiencyResult:
    summary: dict[str, Any]
    chosen: dict[str, Any] | None  # the chosen candidate's record; None: nothing feasible
    folder: Path


def search_study_name(config: RunConfig, run_dir: Path) -> str:
    search = config.compress.search
    return search.study or f"{default_study_name(config.tune, run_dir)}-compress"


def search_sampler(config: RunConfig, seed: int | None, shared: bool) -> Any:
    import optuna

    search = config.compress.search
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if search.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if search.sampler == "nsga2":
            population = min(20, max(4, search.trials // 3))
            return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        return optuna.samplers.TPESampler(
            n_startup_trials=search.startup_trials,
            seed=seed,
            multivariate=True,
            group=True,  # the space is conditional: a plan without pruning has no importance
            constant_liar=shared,
        )


def _open(ctx: RunContext, directions: list[str], setup: dict[str, Any]) -> tuple[Any, str]:
    """Create the search study in the quality loop's storage, or join it if its space and
    objectives match; the study (with its sampler) and the storage URL."""
    config = ctx.config
    url = storage_url(config.tune, ctx.run_dir)
    storage = open_storage(url, config.tune)
    name = search_study_name(config, ctx.run_dir)
    space = config.compress.search.space.model_dump(mode="json")
    attrs = {ATTR_CONFIG: config.to_dict(), ATTR_SETUP: setup}
    study = open_study(
        storage,
        name,
        directions,
        config.tune,
        space,
        attrs,
        config.seed,
        url,
        0.0,
        section="compress.search",
    )
    shared = not url.startswith("sqlite")
    seed = None if shared else resumed_seed(study, config.seed)
    study.sampler = search_sampler(config, seed, shared)
    return study, url


def _recover_finished(study: Any, setup: SearchSetup) -> list[int]:
    """On resume: a trial the killed process left running whose candidate was already written
    is finished from its ``candidate.json`` instead of being run again."""
    from optuna.trial import TrialState

    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        path = setup.folder / f"trial-{trial.number:05d}" / "candidate.json"
        if not path.is_file():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        attrs = {"plan": record["plan"], "recovered": True, "free": bool(record.get("free"))}
        for key, value in attrs.items():
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
        if "rejected_before_training" in record or record.get("same_as") is not None:
            study.tell(trial.number, state=TrialState.PRUNED)
        elif "acceptance" in record:
            study.tell(trial.number, objective_values(setup, record))
        else:
            continue
        recovered.append(trial.number)
    return recovered


def _best_text(summary: dict[str, Any], config: RunConfig) -> str:
    chosen = summary.get("chosen")
    if not chosen:
        return "–"
    ratios = chosen.get("vs_torch_fp32") or {}
    key = {"latency": "latency_b1_p50", "throughput": "throughput_b256", "size": "size"}[
        config.compress.search.objective
    ]
    return f"{ratios.get(key, 0):.1f}× {key.split('_')[0]} (trial {chosen['trial']})"


def drive_search(study: Any, setup: SearchSetup, precision_choices: list[str]) -> str:
    """Run trials of the search study until its budget is spent (the run and workers alike)."""
    ctx, config = setup.ctx, setup.config
    search = config.compress.search
    trial_fn = make_search_trial(setup)

    def sample(trial: Any) -> dict[str, Any]:
        steps = sample_plan(trial, search, precision_choices)
        trial.set_user_attr("plan", plan_label(steps))  # before it runs: repeats look for it
        return {"steps": [step.model_dump(mode="json") for step in steps]}

    setup.study = study  # the free allowance and the repeats are the study's

    timeout = None if search.timeout_min is None else search.timeout_min * 60
    with SearchProgress(ctx.console, ctx.quiet) as progress:
        setup.progress = progress.note

        def on_update(snap: SearchSnapshot) -> None:
            summary = setup.last
            progress.update(snap, summary.get("counts", {}), _best_text(summary, config))

        threads = ThreadBudget(config.tune.threads, ctx.warn)
        stopped = run_search(
            study, {}, search.trials, trial_fn, timeout, on_update, sample=sample, threads=threads
        )
    if stopped == "target met on validation":
        stopped = "a feasible plan was found (stop: first_feasible)"
    return stopped


def _study_setup(ctx: RunContext, setup: SearchSetup, machine: dict[str, Any]) -> dict[str, Any]:
    """What the study records for workers: the metric, budgets, precisions, folders."""
    search = ctx.config.compress.search
    return {
        "loop": "compress",
        "metric": primary_metric(ctx.task)[0],
        "quality_budget": setup.budget,
        "objective": search.objective,
        "budget_trials": search.trials,
        "timeout_min": search.timeout_min,
        "precisions": precisions(search, machine["cpu_flags"]),
        "folder": str(setup.folder),  # workers write their trials here: a folder they must see
        "baseline_files": {k: str(v) for k, v in setup.baseline.files.items()},
        "splits": ctx.splits.sizes(),
    }


def _directions(ctx: RunContext, higher: bool) -> list[str]:
    objective = ctx.config.compress.search.objective
    speed = "maximize" if objective == "throughput" else "minimize"
    return ["maximize" if higher else "minimize", speed, "minimize"]


def run_efficiency_loop(ctx: RunContext, baseline: Baseline) -> EfficiencyResult:
    """Search plans until the trial or time budget is spent (or, with ``stop:
    first_feasible``, until one is feasible); return the summary and the chosen candidate."""
    tick = time.perf_counter()
    folder = (ctx.run_dir / SEARCH_FOLDER).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    machine = fingerprint()
    files = {k: baseline.files[k].resolve() for k in ("spec", "safetensors", "onnx")}
    setup = search_setup(ctx, Baseline(baseline.model, baseline.spec, files), folder)
    atomic_write_text(
        folder / "baseline.json",
        json.dumps({k: v.to_dict() for k, v in setup.measured.items()}, default=float) + "\n",
    )
    study, url = _open(ctx, _directions(ctx, setup.higher), _study_setup(ctx, setup, machine))
    if ctx.config.compress.search.ladder and not study.trials:  # a new study: its first plans
        for params in ladder(ctx.config.compress.search, has_vnni(machine["cpu_flags"])):
            study.enqueue_trial(params, skip_if_exists=True)
    own = ctx.resumed and url.startswith("sqlite")
    recovered = _recover_finished(study, setup) if own else []
    interrupted = fail_interrupted(study, ctx.config.tune.retries) if own else []
    stopped = drive_search(study, setup, list(study.user_attrs[ATTR_SETUP]["precisions"]))
    summary = setup.summarise()
    _all_failed(summary, folder)
    summary.update(
        {
            "loop": "compress",
            "study": study.study_name,
            "storage": redact(url),
            "stopped": stopped,
            **_budgets(ctx),
            "recovered_trials": recovered,
            "interrupted_trials_rerun": interrupted,
            "deaths": trial_deaths(study),
            "workers": sorted({t.user_attrs.get("worker", "") for t in study.trials} - {""}),
            "cpu": _cpu(machine, ctx.threads),
            "seconds": time.perf_counter() - tick,
            "folder": SEARCH_FOLDER,
        }
    )
    return EfficiencyResult(summary, _chosen_record(ctx, setup, summary), folder)


def _all_failed(summary: dict[str, Any], folder: Path) -> None:
    """One failed candidate is one failed trial; a search whose every candidate failed has
    nothing to hand back, and the run fails with the first error."""
    counts, rows = summary["counts"], summary["candidates"]
    if not rows or counts["failed"] < counts["trials"]:
        return
    first = rows[0]
    raise SearchError(
        f"compress.search: every candidate failed ({counts['failed']} of {counts['trials']}); "
        f"the first, trial {first['trial']} ({first['plan']}): {first['error']}; each one's "
        f"error is in {folder}/trial-*/candidate.json"
    )


def _budgets(ctx: RunContext) -> dict[str, Any]:
    search, metric = ctx.config.compress.search, primary_metric(ctx.task)[0]
    return {
        "budget_trials": search.trials,
        "timeout_min": search.timeout_min,
        "quality_budget": quality_budget(ctx.config),
        "quality_drop_mode": resolve_drop_mode(ctx.config.requirements.quality_drop_mode, metric),
        "metric": metric,
    }


def _cpu(machine: dict[str, Any], threads: int) -> dict[str, Any]:
    return {
        "model": machine["cpu_model"],
        "flags": machine["cpu_flags"],
        "physical_cores": machine["physical_cores"],
        "hostname_hash": machine.get("hostname_hash"),
        "threads": threads,
        "quantization": "uint8 activations, int8 weights, full range (VNNI)"
        if has_vnni(machine["cpu_flags"])
        else "uint8 activations, int8 weights, reduce_range (no VNNI: 8 bits saturate)",
    }


def _chosen_record(
    ctx: RunContext, setup: SearchSetup, summary: dict[str, Any]
) -> dict[str, Any] | None:
    """The chosen candidate's full record, with the baselines it was measured against."""
    chosen = summary["chosen"]
    if chosen is None:
        return None
    path = setup.folder / chosen["folder"] / "candidate.json"
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    record["folder"] = f"{SEARCH_FOLDER}/{chosen['folder']}"
    record["baseline"] = {k: v.to_dict() for k, v in setup.measured.items()}
    summary["reproduce"] = f"zenopt compress {ctx.run_dir} --plan '{chosen['plan']}'"
    return record
