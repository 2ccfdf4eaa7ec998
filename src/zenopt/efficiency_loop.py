"""The efficiency loop: "efficiency met? no → compress / quantize → measure again".

An Optuna study (multi-objective: quality, speed, size) draws compression plans from
``compress.search.space``; each trial is checked for speed before any training, applied with
cached prefixes, measured in its runtime and judged by the acceptance rule (see
``efficiency_trial``). The study lives in the quality loop's storage (the run's SQLite file by
default), so ``zenopt run --resume`` continues it; the trials' folders and ``front.json`` /
``best.json`` are rewritten after every candidate.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zenopt.compress._base import has_vnni
from zenopt.compress.prefix_cache import PrefixCache, model_digest
from zenopt.compress.search_space import ladder, precisions, sample_plan
from zenopt.compress.search_summary import write_summary
from zenopt.compress_flow import measure_baseline
from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError
from zenopt.core.rundir import atomic_write_text
from zenopt.efficiency_trial import SearchSetup, make_search_trial, objective_values
from zenopt.evaluate.metrics import primary_metric
from zenopt.models import DeployableModel, ModelSpec
from zenopt.profile.machine import fingerprint
from zenopt.report.progress import SearchProgress
from zenopt.stages import DataStage, evaluate_split
from zenopt.tune.search import SearchSnapshot, run_search
from zenopt.tune.storage import default_study_name, open_storage, redact, storage_url
from zenopt.tune.study import ATTR_CONFIG, ATTR_SETUP, ATTR_SPACE, fail_interrupted

__all__ = [
    "EfficiencyResult",
    "quality_budget",
    "run_efficiency_loop",
    "run_search_worker",
    "search_study_name",
]

SEARCH_FOLDER = "search"
# Trials that take seconds (a plan drawn again, answered from its first measurement, or one
# rejected before training) do not count toward compress.search.trials, up to this many per
# counted plan: the budget goes to plans trained and measured.
FREE_TRIALS = 3


@dataclass(frozen=True)
class EfficiencyResult:
    summary: dict[str, Any]
    chosen: dict[str, Any] | None  # the chosen candidate's record; None: nothing feasible
    folder: Path


def quality_budget(config: RunConfig) -> float:
    """The quality drop a candidate may cost: ``requirements.max_quality_drop``, or the search's
    ``default_drop`` when the requirements leave it open."""
    drop = config.requirements.max_quality_drop
    return config.compress.search.default_drop if drop is None else drop


def search_study_name(config: RunConfig, run_dir: Path) -> str:
    search = config.compress.search
    return search.study or f"{default_study_name(config.tune, run_dir)}-compress"


def _sampler(config: RunConfig, seed: int | None, shared: bool) -> Any:
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


def _open(config: RunConfig, run_dir: Path, directions: list[str], setup: dict[str, Any]) -> Any:
    """Create the search study in the quality loop's storage, or join it if its space matches."""
    import optuna

    url = storage_url(config.tune, run_dir)
    storage = open_storage(url, config.tune)
    name = search_study_name(config, run_dir)
    space = config.compress.search.space.model_dump(mode="json")
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        stored = study.user_attrs.get(ATTR_SPACE)
        if stored != space or [d.name.lower() for d in study.directions] != directions:
            raise ConfigError(
                f"compress.search.study {name!r} in {redact(url)} already exists with another "
                "search space or objectives; use a new compress.search.study name"
            )
    except KeyError:
        study = optuna.create_study(study_name=name, storage=storage, directions=directions)  # type: ignore[arg-type]
        study.set_user_attr(ATTR_CONFIG, config.to_dict())
        study.set_user_attr(ATTR_SETUP, setup)
        study.set_user_attr(ATTR_SPACE, space)  # last: joiners wait for it
    shared = not url.startswith("sqlite")
    study.sampler = _sampler(config, None if shared else config.seed, shared)
    return study, url, name


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


def _drive(
    study: Any,
    setup: SearchSetup,
    precision_choices: list[str],
    console: Console,
    quiet: bool,
) -> str:
    """Run trials of the search study until its budget is spent (the run and workers alike)."""
    config = setup.config
    search = config.compress.search
    trial_fn = make_search_trial(setup)

    def sample(trial: Any) -> dict[str, Any]:
        steps = sample_plan(trial, search, precision_choices)
        return {"steps": [step.model_dump(mode="json") for step in steps]}

    timeout = None if search.timeout_min is None else search.timeout_min * 60
    with SearchProgress(console, quiet) as progress:
        setup.progress = progress.note

        def on_update(snap: SearchSnapshot) -> None:
            summary = setup.last
            progress.update(snap, summary.get("counts", {}), _best_text(summary, config))

        stopped = run_search(study, {}, search.trials, trial_fn, timeout, on_update, sample=sample)
    if stopped == "target met on validation":
        stopped = "a feasible plan was found (stop: first_feasible)"
    return stopped


def _setup(
    config: RunConfig,
    stage: DataStage,
    model: DeployableModel,
    spec: ModelSpec,
    files: dict[str, Path],
    folder: Path,
    threads: int,
) -> SearchSetup:
    """The FP32 baseline measured on this machine, and everything a trial needs."""
    _, sense = primary_metric(stage.dataset.task)
    baseline = measure_baseline(model, spec, files, stage, config, threads)
    return SearchSetup(
        config=config,
        stage=stage,
        model=model,
        spec=spec,
        baseline_files=files,
        baseline=baseline,
        folder=folder,
        threads=threads,
        budget=quality_budget(config),
        cache=PrefixCache(folder / "cache", model_digest(model), config.seed),
        higher=sense == "max",
        free_left=FREE_TRIALS * config.compress.search.trials,
        baseline_val=evaluate_split(model, spec.head, stage, "val"),
    )


def run_efficiency_loop(
    config: RunConfig,
    stage: DataStage,
    model: DeployableModel,
    spec: ModelSpec,
    artifacts: dict[str, Path],
    run_dir: Path,
    console: Console,
    quiet: bool,
    threads: int,
    resume: bool = False,
) -> EfficiencyResult:
    """Search plans until the trial or time budget is spent (or, with ``stop:
    first_feasible``, until one is feasible); return the summary and the chosen candidate."""
    search = config.compress.search
    tick = time.perf_counter()
    metric, sense = primary_metric(stage.dataset.task)
    higher = sense == "max"
    folder = (run_dir / SEARCH_FOLDER).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    machine = fingerprint()
    files = {k: artifacts[k].resolve() for k in ("spec", "safetensors", "onnx")}
    setup = _setup(config, stage, model, spec, files, folder, threads)
    atomic_write_text(
        folder / "baseline.json",
        json.dumps({k: v.to_dict() for k, v in setup.baseline.items()}, default=float) + "\n",
    )
    setup_attrs = {
        "loop": "compress",
        "metric": metric,
        "quality_budget": quality_budget(config),
        "objective": search.objective,
        "budget_trials": search.trials,
        "timeout_min": search.timeout_min,
        "precisions": precisions(search, machine["cpu_flags"]),
        "folder": str(folder),  # workers write their trials here: a folder they must see
        "baseline_files": {k: str(v) for k, v in files.items()},
        "splits": stage.prepared.splits.sizes(),
    }
    directions = ["maximize" if higher else "minimize"]
    directions += ["maximize" if search.objective == "throughput" else "minimize", "minimize"]
    study, url, name = _open(config, run_dir, directions, setup_attrs)
    if search.ladder and not study.trials:  # a new study: its first plans
        for params in ladder(search, has_vnni(machine["cpu_flags"])):
            study.enqueue_trial(params, skip_if_exists=True)
    own = resume and url.startswith("sqlite")
    recovered = _recover_finished(study, setup) if own else []
    interrupted = fail_interrupted(study, config.tune.retries) if own else []
    choices = list(study.user_attrs[ATTR_SETUP]["precisions"])
    stopped = _drive(study, setup, choices, console, quiet)
    summary = write_summary(folder, config, higher)
    summary.update(
        {
            "loop": "compress",
            "study": name,
            "storage": redact(url),
            "stopped": stopped,
            "budget_trials": search.trials,
            "timeout_min": search.timeout_min,
            "quality_budget": quality_budget(config),
            "quality_drop_mode": config.requirements.quality_drop_mode,
            "metric": metric,
            "recovered_trials": recovered,
            "interrupted_trials_rerun": interrupted,
            "workers": sorted({t.user_attrs.get("worker", "") for t in study.trials} - {""}),
            "cpu": {
                "model": machine["cpu_model"],
                "flags": machine["cpu_flags"],
                "physical_cores": machine["physical_cores"],
                "threads": threads,
                "quantization": "uint8 activations, int8 weights, full range (VNNI)"
                if has_vnni(machine["cpu_flags"])
                else "uint8 activations, int8 weights, reduce_range (no VNNI: 8 bits saturate)",
            },
            "seconds": time.perf_counter() - tick,
            "folder": SEARCH_FOLDER,
        }
    )
    chosen = summary["chosen"]
    record = None
    if chosen is not None:
        path = folder / chosen["folder"] / "candidate.json"
        record = json.loads(path.read_text(encoding="utf-8"))
        record["folder"] = f"{SEARCH_FOLDER}/{chosen['folder']}"
        record["baseline"] = {k: v.to_dict() for k, v in setup.baseline.items()}
        summary["reproduce"] = f"zenopt compress {run_dir} --plan '{chosen['plan']}'"
    return EfficiencyResult(summary, record, folder)


def run_search_worker(study: Any, console: Console, quiet: bool) -> dict[str, Any]:
    """``zenopt worker`` on an efficiency-search study: the run's config, data and baseline
    model from what the study records, the baseline measured on this machine, then trials
    until the study's budget is spent. Trials land in the run's search folder, which this
    machine must see (the same machine, or a shared file system)."""
    from zenopt.models import load_deployable
    from zenopt.profile.machine import default_threads
    from zenopt.stages import prepare_data
    from zenopt.tune.search import worker_id

    config = RunConfig.model_validate(study.user_attrs[ATTR_CONFIG])
    attrs = dict(study.user_attrs[ATTR_SETUP])
    files = {k: Path(v) for k, v in attrs["baseline_files"].items()}
    folder = Path(attrs["folder"])
    for path in (*files.values(), folder):
        if not path.exists():
            raise ConfigError(
                f"--study {study.study_name}: {path} is not reachable from this machine; run "
                "the worker where the run folder is visible (same machine or a shared folder)"
            )
    stage = prepare_data(config)
    if stage.prepared.splits.sizes() != attrs["splits"]:
        raise ConfigError(
            f"--study {study.study_name}: the data now splits as "
            f"{stage.prepared.splits.sizes()}, not as the run did ({attrs['splits']}); the "
            "data changed, so this worker cannot join"
        )
    model, spec = load_deployable(files["spec"])
    setup = _setup(config, stage, model, spec, files, folder, default_threads())
    study.sampler = _sampler(config, None, shared=True)
    stopped = _drive(study, setup, list(attrs["precisions"]), console, quiet)
    summary = write_summary(folder, config, setup.higher)
    me = worker_id()
    mine = [t.number for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker") == me]
    summary.update(
        {
            "loop": "compress",
            "study": study.study_name,
            "stopped": stopped,
            "budget_trials": attrs["budget_trials"],
            "this_worker": {"id": me, "trials": mine},
        }
    )
    return summary
