"""A stand-in efficiency-search process for the scale-out tests.

It runs the real search loop (``run_search``: the study, the global budget, heartbeats), the
real per-host thread budget, and the search trial's real repeat answering and free allowance
(``flow/efficiency/trial.py``), on plans that are "measured" in a fraction of a second instead
of trained: a plan named ``slow-*`` is rejected as its speed check would reject it (free),
any other is measured (counted). Each measurement appends a line to ``measured.log`` and
takes ``$PROBE_SECONDS`` (0.15 by default).

    python -m tests.search_probe URL STUDY FOLDER BUDGET PLAN [PLAN ...]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def main(url: str, name: str, folder: Path, budget: int, plans: list[str]) -> None:
    import optuna

    from zenopt.core.config import RunConfig, TuneConfig
    from zenopt.flow.efficiency.setup import write_record
    from zenopt.flow.efficiency.trial import _free, _repeat
    from zenopt.tune.hosts import ThreadBudget
    from zenopt.tune.search import TrialRejectedError, TrialResult, run_search
    from zenopt.tune.storage import open_storage

    storage = open_storage(url, TuneConfig(heartbeat_s=1, grace_s=3))
    study = optuna.load_study(study_name=name, storage=storage)
    study.sampler = optuna.samplers.RandomSampler()  # each process its own stream
    config = RunConfig.model_validate({"compress": {"search": {"trials": budget}}})
    setup: Any = SimpleNamespace(study=study, folder=folder, config=config, summarise=dict)

    def sample(trial: Any) -> dict[str, Any]:
        plan = trial.suggest_categorical("plan", plans)
        trial.set_user_attr("plan", plan)
        return {"plan": plan}

    def trial_fn(params: dict[str, Any], number: int, report: Any) -> TrialResult:
        label = params["plan"]
        _repeat(setup, number, label)  # raises when the plan was drawn before, anywhere
        with (folder / "measured.log").open("a") as log:
            log.write(f"{label} {number} {os.getpid()}\n")
        time.sleep(float(os.environ.get("PROBE_SECONDS", "0.15")))  # others can run into it
        if label.startswith("slow"):
            record = {"trial": number, "plan": label, "rejected_before_training": ["slow"]}
            record["free"] = _free(setup, number)
            write_record(folder / f"trial-{number:05d}", record)
            raise TrialRejectedError("slow", {"plan": label, "free": record["free"]}, {})
        record = {"trial": number, "plan": label, "acceptance": {"accepted": True}}
        write_record(folder / f"trial-{number:05d}", record)
        return TrialResult(1.0, False, {"plan": label, "free": False})

    run_search(study, {}, budget, trial_fn, sample=sample, threads=ThreadBudget())


if __name__ == "__main__":
    url, name, folder, budget, *plans = sys.argv[1:]
    main(url, name, Path(folder), int(budget), plans)
