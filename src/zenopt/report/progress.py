"""Rich progress bars for long stages, fed by records (never by live models)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from zenopt.core.records import EpochRecord

if TYPE_CHECKING:
    from zenopt.tune.search import SearchSnapshot

__all__ = ["EpochProgress", "TuneProgress", "stage_progress"]


def stage_progress(console: Console, quiet: bool, stage: str) -> Progress:
    """A bar for a stage made of named steps (``progress.advance`` after each)."""
    return Progress(
        TextColumn(f"[bold]{stage}[/] {{task.description}}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    )


class EpochProgress:
    """Training bar: epoch, training loss and the monitored validation metric."""

    def __init__(self, console: Console, quiet: bool, model_name: str, epochs: int) -> None:
        self.progress = Progress(
            TextColumn("[bold]train[/] {task.description}"),
            BarColumn(),
            TextColumn("epoch {task.completed}/{task.total}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        )
        self.task: TaskID = self.progress.add_task(model_name, total=epochs, status="")

    def __enter__(self) -> EpochProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, record: EpochRecord, monitor: str = "val") -> None:
        self.progress.update(
            self.task,
            completed=record.epoch,
            status=f"loss {record.train_loss:.4f} · {monitor} {record.val_metric:.4f}",
        )

    def finish(self, epochs_run: int) -> None:
        """Early stopping ends the bar at the epoch it stopped on."""
        self.progress.update(self.task, total=epochs_run, completed=epochs_run)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(max(0.0, seconds)), 60)
    return f"{minutes}:{secs:02d}"


class TuneProgress:
    """Search bar: trials counted against the budget, pruned and failed counts, the best
    validation value so far, and the time spent and left."""

    def __init__(self, console: Console, quiet: bool, metric: str) -> None:
        self.metric = metric
        self.progress = Progress(
            TextColumn("[bold]tune[/]"),
            BarColumn(bar_width=16),
            TextColumn("{task.completed}/{task.total} trials"),
            TextColumn("{task.fields[status]}"),
            console=console,
            disable=quiet,
        )
        self.task: TaskID = self.progress.add_task("", total=None, status="starting")

    def __enter__(self) -> TuneProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, snap: SearchSnapshot) -> None:
        best = "–" if snap.best is None else f"{snap.best:.4f}"
        budget = "" if snap.timeout_s is None else f"/{_clock(snap.timeout_s)}"
        status = (
            f"{snap.pruned} pruned · {snap.failed} failed · best {best} · "
            f"{_clock(snap.elapsed_s)}{budget}"
        )
        self.progress.update(self.task, completed=snap.counted, total=snap.budget, status=status)


class SearchProgress:
    """Efficiency-search bar: plans tried against the budget, how many were rejected before
    training, accepted and feasible, the best feasible ratio so far, and what runs now."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]search[/]"),
            BarColumn(bar_width=16),
            TextColumn("{task.completed}/{task.total} plans"),
            TextColumn("{task.fields[status]}"),
            TextColumn("[dim]{task.fields[now]}"),
            console=console,
            disable=quiet,
        )
        self.task: TaskID = self.progress.add_task("", total=None, status="starting", now="")

    def __enter__(self) -> SearchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.update(self.task, now=text)

    def update(self, snap: SearchSnapshot, counts: dict[str, int], best: str) -> None:
        budget = "" if snap.timeout_s is None else f"/{_clock(snap.timeout_s)}"
        status = (
            f"{counts.get('rejected_before_training', 0)} rejected untrained · "
            f"{counts.get('accepted', 0)} accepted · {counts.get('feasible', 0)} feasible · "
            f"best {best} · {_clock(snap.elapsed_s)}{budget}"
        )
        self.progress.update(
            self.task, completed=snap.counted, total=snap.budget, status=status, now=""
        )
