"""Whether new data fits a trained model, checked before a runtime sees it.

A runtime handed the wrong kind or shape of input fails deep inside (ONNX Runtime: "Invalid
rank for input"; torch: a matmul error). These checks compare the data with the model's
record (the manifest's ``model`` section) instead, and say in one line what the model takes,
what the data is, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError

__all__ = ["ModelInput", "check_kind", "check_labels", "check_shape"]

# What each source kind (``zenopt.data.sources.kind_of_path``) is, for the messages.
_KIND_TEXT = {"table": "a table", "idx": "IDX images", "folder": "an image folder"}
# How to leave a source's labels out, to predict without scoring.
_NO_LABELS = {
    "table": "drop the target column",
    "npz": "save X without y",
    "idx": "move the labels file next to the images away",
    "folder": "put the images directly in the folder, not in class sub-folders",
}


def _listed(names: list[str], limit: int = 8) -> str:
    """``a, b, c`` — or the first ``limit`` and how many in all, for a one-line message."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}, … ({len(names)} in all)"


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


@dataclass(frozen=True)
class ModelInput:
    """What a trained model takes, as its run recorded it."""

    shape: tuple[int, ...]  # per sample: (features,) or (channels, height, width)
    columns: list[str]  # a table's raw columns: numeric, then categorical
    task: str
    classes: list[str]
    resize: int | None  # the side new images are resized to: the run's data.resize

    @classmethod
    def from_record(cls, model: dict[str, Any], data: DataConfig) -> ModelInput:
        """From the manifest's ``model`` section and the run's ``data`` config."""
        inputs = model.get("inputs") or {}
        categories = (inputs.get("encoder") or {}).get("categories") or {}
        return cls(
            shape=tuple(int(d) for d in model["input_shape"]),
            columns=[*(inputs.get("numeric") or []), *categories],
            task=str(model["task"]),
            classes=[str(c) for c in model.get("class_names") or []],
            resize=data.image_side(None),
        )

    @property
    def takes_images(self) -> bool:
        return len(self.shape) == 3

    def describe(self) -> str:
        """``images of 1×28×28 (channels×height×width)`` or ``a table of 4 features (…)``."""
        if self.takes_images:
            return f"images of {_dims(self.shape)} (channels×height×width)"
        if not self.columns:
            return f"a table of {self.shape[0]} features"
        # categorical columns are one-hot encoded: more features than columns
        encoded = "" if len(self.columns) == self.shape[0] else "encoded from columns "
        return f"a table of {self.shape[0]} features ({encoded}{_listed(self.columns)})"

    def resize_note(self, size_differs: bool) -> str:
        """How new images reach the model's size: the run's data.resize, or not at all."""
        if self.resize is not None:
            return f"new images are resized to the run's data.resize={self.resize}"
        note = "the run did not set data.resize, so new images are used at their own size"
        if not size_differs:
            return note
        _, height, width = self.shape
        retrain = f", or train with data.resize={height}" if height == width else ""
        return f"{note}: give {height}×{width} images{retrain}"


def check_kind(path: Path, kind: str, expected: ModelInput) -> None:
    """Before reading: a table for an image model, or images for a table model, is an error.
    (An .npz can hold either; :func:`check_shape` decides once its X is read.)"""
    if kind == "npz" or (kind == "table") != expected.takes_images:
        return
    if expected.takes_images:
        advice = "give an image folder, an IDX file or an .npz with X of images"
    else:
        advice = (
            f"give a .csv or .parquet with these columns, or an .npz with X of shape "
            f"(n, {expected.shape[0]})"
        )
    raise DataError(
        f"{path}: {_KIND_TEXT[kind]}, but the model takes {expected.describe()}; {advice}"
    )


def _table_mismatch(path: Path, got: tuple[int, ...], expected: ModelInput) -> str:
    if len(got) != 1:
        return (
            f"{path}: X holds images of {_dims(got)} per sample, but the model takes "
            f"{expected.describe()}; give X of shape (n, {expected.shape[0]})"
        )
    return (
        f"{path}: {got[0]} features per sample, but the model takes {expected.describe()}; "
        f"give X of shape (n, {expected.shape[0]}), columns in that order"
    )


def _image_mismatch(path: Path, got: tuple[int, ...], expected: ModelInput) -> str:
    takes = f"but the model takes {expected.describe()}"
    if len(got) != 3:
        reshape = ", ".join(map(str, expected.shape))
        fits = int(np.prod(got)) == int(np.prod(expected.shape))
        return f"{path}: {_dims(got)} features per sample (a table), {takes}; give X of images" + (
            f" (reshape X to (n, {reshape}))" if fits else ""
        )
    advice = []
    channels = expected.shape[0]
    if got[0] != channels:
        kind = {1: "grayscale images (1 channel)", 3: "RGB images (3 channels)"}
        advice.append(f"give {kind.get(channels, f'images with {channels} channels')}")
    advice.append(expected.resize_note(size_differs=got[1:] != expected.shape[1:]))
    return f"{path}: images of {_dims(got)}, {takes}; {'; '.join(advice)}"


def check_shape(X: np.ndarray, path: Path, expected: ModelInput) -> None:
    """After reading: each sample must have the model's input shape."""
    got = tuple(int(d) for d in X.shape[1:])
    if got == expected.shape:
        return
    if expected.takes_images:
        raise DataError(_image_mismatch(path, got, expected))
    raise DataError(_table_mismatch(path, got, expected))


def check_labels(labels: list[str], path: Path, kind: str, expected: ModelInput) -> None:
    """A classifier scored against a label it cannot predict would count it as a miss: the
    labels are not this model's (a different run, other class names), so say so."""
    if expected.task == "regression" or not expected.classes:
        return
    known = set(expected.classes)
    for row, label in enumerate(labels):
        if label not in known:
            raise DataError(
                f"{path}: label {label!r} (sample {row + 1}) is not one of the model's classes "
                f"({_listed(expected.classes)}); use the model's class names, or leave the "
                f"labels out to predict without scoring ({_NO_LABELS[kind]})"
            )
