"""What the flow's stages share: the run context (fixed for the whole run), the trained
baseline with its files, and the run's record (its manifest as it grows, and the seconds each
stage took)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from zenopt.core.config import RunConfig
from zenopt.core.rundir import RunDir
from zenopt.flow.data import DataStage
from zenopt.models import DeployableModel, ModelSpec
from zenopt.profile.trace import span

__all__ = ["Baseline", "RunContext", "RunRecord", "baseline_files"]


@dataclass(frozen=True)
class RunContext:
    """Everything every stage needs, built once by ``zenopt run`` (and by ``zenopt worker`` and
    ``zenopt compress``, from what a run or a study recorded).

    ``run_dir`` holds the study database, the trials' and the search's folders; ``threads`` is
    the inference thread count every FP32 baseline is measured with; ``resumed``: the run
    continues an interrupted one in ``run_dir``."""

    config: RunConfig
    data: DataStage
    run_dir: Path
    console: Console
    quiet: bool = False
    threads: int = 1
    resumed: bool = False

    @property
    def splits(self) -> Any:
        return self.data.prepared.splits

    @property
    def task(self) -> str:
        return self.data.dataset.task

    def warn(self, text: str) -> None:
        """A warning on the console (even with ``quiet``: it says what to fix)."""
        from rich.markup import escape

        self.console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False)

    def selection(self) -> RunContext:
        """This context with the test split held out: what every selection runs on (the
        efficiency search, a configured plan). Touching ``splits.test`` there raises."""
        return replace(self, data=self.data.without_test())


def baseline_files(folder: Path) -> dict[str, Path]:
    """The FP32 baseline's files in a run folder, by kind."""
    names = {"spec": "model.json", "safetensors": "model.safetensors", "onnx": "model.onnx"}
    return {kind: folder / name for kind, name in names.items()}


@dataclass(frozen=True)
class Baseline:
    """The trained FP32 model the flow carries on, and (once exported) its files by kind:
    ``spec`` (model.json), ``safetensors``, ``onnx``."""

    model: DeployableModel
    spec: ModelSpec
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class RunRecord:
    """The run's manifest as it grows, and the seconds each stage took; written to the run
    folder after every stage, so an interrupted run shows how far it got."""

    run: RunDir
    manifest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, key: str) -> Iterator[None]:
        """Record the seconds the block took under ``timings[key]`` (when it completes); the
        block is one trace range, named by the key (``train_s``: ``train``)."""
        tick = time.perf_counter()
        with span(key.removesuffix("_s")):
            yield
        self.timings[key] = time.perf_counter() - tick

    def save(self) -> None:
        self.run.write_manifest(self.manifest)
