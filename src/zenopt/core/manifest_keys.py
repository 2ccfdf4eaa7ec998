"""What each top-level key of a run's ``manifest.json`` holds, and the measured records inside
it: the source of the docs site's manifest reference (a key a run writes that is missing here
fails the docs tests)."""

from __future__ import annotations

import dataclasses
import typing

from zenopt.core import records
from zenopt.core.config_reference import type_name
from zenopt.core.markdown_table import cell

__all__ = ["RECORDS", "SECTIONS", "manifest_markdown"]

SECTIONS: dict[str, str] = {
    "zenopt_version": "the zenopt version that wrote the run",
    "status": "running, complete or failed (a failed run keeps its folder; zenopt report "
    "refuses it)",
    "started_at": "when the run started (ISO 8601, UTC)",
    "finished_at": "when the run finished (ISO 8601, UTC)",
    "command": "the command line that started the run, to reproduce it",
    "resumed": "how often the run was continued with --resume",
    "config": "the resolved configuration (also config.yaml), secrets masked",
    "environment": "the machine: CPU model and flags, cores, memory, Python, OS, library versions",
    "host_lock": "the lock file that kept timings apart from other zenopt processes of the "
    "host, and how long the run waited for it",
    "data": "source, task, rows, splits, class counts and the preprocessing fitted on the "
    "training split",
    "model": "the model: name, parameters, input shape, where it came from",
    "training": "the deployed model's training: history per epoch (EpochRecord), best epoch, "
    "samples per second",
    "baseline_training": "the untuned model's training, kept when the quality loop carried a "
    "trial on",
    "tune": "the quality loop's study: trials, counts, importances, the chosen trial",
    "quality": "quality on validation and test (with intervals), the paired drop against the "
    "trained model, the baseline's figures when tuned",
    "export": "the ONNX export and its check against PyTorch (max |difference|, prediction "
    "mismatches)",
    "profile": "per backend (BackendProfile): latency (LatencyStats) and throughput "
    "(ThroughputStats) per batch, peak memory",
    "cost": "parameters, FLOPs per sample, file sizes per artifact",
    "compress": "the configured plan's candidate, when compress.plan is set",
    "search": "the efficiency search: every candidate, the Pareto front, why plans were "
    "rejected, the chosen plan",
    "speed": "the final interleaved speed confirmation: rounds, medians with intervals, noise "
    "marks",
    "serve": "the serve stage: the serving knobs chosen and the p99 measured at the rate",
    "requirements": "one RequirementCheck per requirement: name, target, measured, met, how",
    "decisions": "the flow's decisions (Decision): quality, efficiency, confirmation on the "
    "test split",
    "verdict": "the deployed model, whether every requirement was met, what was missed",
    "artifacts": "the run folder's files: ONNX, safetensors, model spec, test predictions",
    "analysis": "the report's analysis parts: operators, scaling, memory, ceiling, "
    "explanations, instructions",
    "timings": "seconds per stage",
    "compressed": "candidates made later by zenopt compress, by folder name",
}

RECORDS = (
    records.LatencyStats,
    records.ThroughputStats,
    records.BackendProfile,
    records.RequirementCheck,
    records.Decision,
    records.EpochRecord,
)


def _type(annotation: object) -> str:
    return cell(type_name(annotation))


def manifest_markdown() -> str:
    """The top-level keys, then each record type's fields, as Markdown."""
    out = ["### Top-level keys", "", "| key | what it holds |", "|---|---|"]
    out += [f"| `{key}` | {cell(text)} |" for key, text in SECTIONS.items()]
    for record in RECORDS:
        hints = typing.get_type_hints(record)
        doc = " ".join((record.__doc__ or "").split())
        out += ["", f"### `{record.__name__}`", "", doc, "", "| field | type |", "|---|---|"]
        out += [
            f"| `{f.name}` | {_type(hints.get(f.name, f.type))} |"
            for f in dataclasses.fields(record)
        ]
    return "\n".join(out) + "\n"
