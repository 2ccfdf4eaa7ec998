"""``zenopt worker``: join a study on shared storage and run its trials, the quality loop's
(hyperparameter trials) or the efficiency search's (compression plans), in as many processes
and on as many machines as wanted. Each worker builds its own run context from what the study
records: the run's config, and for a search, the run's folder and baseline files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError
from zenopt.core.rundir import safe_name
from zenopt.flow.context import Baseline, RunContext
from zenopt.flow.data import DataStage, prepare_data
from zenopt.flow.efficiency.search import drive_search, search_sampler
from zenopt.flow.efficiency.setup import search_setup
from zenopt.flow.tune import open_quality_study, run_trials
from zenopt.models import load_deployable
from zenopt.profile.hostlock import configure_host_lock
from zenopt.profile.machine import inference_threads
from zenopt.tune.search import worker_id
from zenopt.tune.storage import open_storage, redact
from zenopt.tune.study import ATTR_CONFIG, ATTR_SETUP, open_study
from zenopt.tune.summary import study_summary, trial_deaths

__all__ = ["WorkerOptions", "run_worker"]


@dataclass(frozen=True)
class WorkerOptions:
    """Where the study is (``storage`` URL, ``study`` name), the shared folder for trial models
    (default: the one the study was created with), and how long to wait for the study."""

    storage: str
    study: str
    artifacts: Path | None = None
    wait_s: float = 60.0
    quiet: bool = False
    threads: int | None = None  # training threads; None: the study's, else this host's share


def _context(
    config: RunConfig, stage: DataStage, run_dir: Path, console: Console, quiet: bool
) -> RunContext:
    configure_host_lock(config.bench.host_lock)  # one timing at a time on this host
    threads = inference_threads(config.bench.threads)
    return RunContext(config, stage, run_dir, console, quiet, threads)


def run_worker(
    options: WorkerOptions, config: RunConfig | None, console: Console
) -> dict[str, Any]:
    """Join a study on shared storage and run its trials until the budget is spent or a trial
    meets the targets. With ``config``, create the study when it does not exist yet."""
    url = options.storage
    if url.startswith("sqlite"):
        raise ConfigError(
            f"--storage {redact(url)}: SQLite cannot be shared safely between worker processes "
            "(no heartbeats, file locking); use postgresql://user:password@host/db"
        )
    if config is not None:
        config = _with_threads(config.model_copy(deep=True), options)
        config.tune.storage, config.tune.study = url, options.study
        if options.artifacts is not None:
            config.tune.artifacts = str(options.artifacts)
        ctx = _context(config, prepare_data(config), Path.cwd(), console, options.quiet)
        study, setup, url = open_quality_study(ctx)
    else:
        storage = open_storage(url, RunConfig().tune, "--storage")
        study = open_study(
            storage, options.study, None, RunConfig().tune, None, None, 0, url, options.wait_s
        )
        config = _with_threads(RunConfig.model_validate(study.user_attrs[ATTR_CONFIG]), options)
        if study.user_attrs[ATTR_SETUP].get("loop") == "compress":  # an efficiency search
            return _run_search_worker(options, config, console)
        setup = dict(study.user_attrs[ATTR_SETUP])
        # Heartbeat and retry settings are the study's, whatever the defaults say.
        storage = open_storage(url, config.tune, "--storage")
        study = open_study(storage, options.study, None, config.tune, None, None, config.seed, url)
        ctx = _context(config, prepare_data(config), Path.cwd(), console, options.quiet)
    stopped = run_trials(ctx, study, setup, _artifacts(options, setup))
    summary = study_summary(study, redact(url), setup, stopped, [])
    me = worker_id()
    summary["this_worker"] = {
        "id": me,
        "trials": [t["number"] for t in summary["trials"] if t["worker"] == me],
    }
    return summary


def _with_threads(config: RunConfig, options: WorkerOptions) -> RunConfig:
    """``--threads`` wins over the study's ``tune.threads``."""
    if options.threads is not None:
        config.tune.threads = options.threads
    return config


def _artifacts(options: WorkerOptions, setup: dict[str, Any]) -> Path:
    """The folder this worker saves trial models in: ``--artifacts``, else the study's."""
    folder = Path(setup["artifacts"])
    if options.artifacts is not None:
        folder = options.artifacts.resolve() / safe_name(options.study)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--artifacts: cannot create {folder} ({exc.strerror}); pass a writable shared "
            "folder with --artifacts"
        ) from None
    return folder


def _run_search_worker(
    options: WorkerOptions, config: RunConfig, console: Console
) -> dict[str, Any]:
    """A worker on an efficiency-search study: the run's config, data and baseline model from
    what the study records, the baseline measured on this machine, then trials until the
    study's budget is spent. Trials land in the run's search folder, which this machine must
    see (the same machine, or a shared file system)."""
    import optuna

    storage = open_storage(options.storage, config.tune, "--storage")
    study = optuna.load_study(study_name=options.study, storage=storage)
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
    ctx = _context(config, stage, folder.parent, console, options.quiet).selection()
    setup = search_setup(ctx, Baseline(model, spec, files), folder)
    study.sampler = search_sampler(config, None, shared=True)
    stopped = drive_search(study, setup, list(attrs["precisions"]))
    summary = setup.summarise()
    me = worker_id()
    mine = [t.number for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker") == me]
    summary.update(
        {
            "loop": "compress",
            "study": study.study_name,
            "stopped": stopped,
            "budget_trials": attrs["budget_trials"],
            "deaths": trial_deaths(study),
            "this_worker": {"id": me, "trials": mine},
        }
    )
    return summary
