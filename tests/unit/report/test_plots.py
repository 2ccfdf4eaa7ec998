from __future__ import annotations

from typing import Any

import numpy as np

from zenopt.report import plots


def test_a_plot_is_drawn_once_per_arguments_and_again_when_they_change(
    monkeypatch: Any,
) -> None:
    """A run renders its report twice; the second render reuses the first one's images."""
    monkeypatch.setattr(plots, "_DRAWN", {})
    drawn: list[Any] = []

    @plots.memoized
    def plot(values: list[float], title: str) -> str:
        drawn.append((values, title))
        return f"{title}:{sum(values)}"

    assert plot([1.0, np.float64(2.0)], "a") == plot([1.0, 2.0], "a") == "a:3.0"
    assert plot([1.0, 2.5], "a") == "a:3.5"
    assert plot([1.0, 2.0], title="b") == "b:3.0"
    assert len(drawn) == 3
    arrays = np.arange(3.0)  # NumPy arrays are keyed by their full values, not their repr
    big = np.arange(2000.0)
    changed = big.copy()
    changed[1000] = -1.0  # repr abbreviates the middle of a long array: this must still count
    plot(big, "c"), plot(changed, "c"), plot(arrays, "c")
    assert len(drawn) == 6


def test_the_real_plots_give_the_same_image_from_the_memo() -> None:
    history = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_metric": 1 - 1 / (e + 1)}
        for e in range(1, 4)
    ]
    first = plots.training_curves(history, "val_accuracy", 2)
    again = plots.training_curves([dict(h) for h in history], "val_accuracy", 2)
    other = plots.training_curves(history, "val_accuracy", 3)
    assert first is not None and first.startswith("data:image/png;base64,")
    assert again is first and other != first  # the same string object: drawn once
