"""scikit-learn's bundled data sets: the defaults, nothing downloaded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.data.dataset import Dataset, Task
from zenopt.data.images import resize_images

__all__ = ["BUNDLED", "DIGITS_SIDE", "IMAGE_SETS"]

# digits are 8×8; by default they are upscaled to MNIST's 28×28 so MNIST nets apply unchanged
DIGITS_SIDE = 28


def _table(
    name: str, X: np.ndarray, y: np.ndarray, features: list[str], classes: list[str]
) -> Dataset:
    task: Task = "binary" if len(classes) == 2 else "multiclass"
    return Dataset(
        name=name,
        X=X.astype(np.float32),
        y=y.astype(np.int64),
        task=task,
        kind="table",
        feature_names=features,
        class_names=classes,
    )


def _digits(config: DataConfig) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[:, None, :, :]  # (n, 1, 8, 8), values 0..16
    side = config.image_side(DIGITS_SIDE)
    if side is not None and side != images.shape[-1]:
        images = resize_images(images, side)
    return Dataset(
        name="digits",
        X=np.ascontiguousarray(images),
        y=bunch.target.astype(np.int64),
        task="multiclass",
        kind="image",
        feature_names=[],
        class_names=[str(c) for c in bunch.target_names],
    )


def _sklearn_table(loader_name: str, dataset_name: str) -> Callable[[DataConfig], Dataset]:
    def load(config: DataConfig) -> Dataset:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        return _table(
            dataset_name,
            bunch.data,
            bunch.target,
            [str(f) for f in bunch.feature_names],
            [str(c) for c in bunch.target_names],
        )

    return load


def _diabetes(config: DataConfig) -> Dataset:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    return Dataset(
        name="diabetes",
        X=bunch.data.astype(np.float32),
        y=bunch.target.astype(np.float32),
        task="regression",
        kind="table",
        feature_names=[str(f) for f in bunch.feature_names],
    )


BUNDLED: dict[str, Callable[[DataConfig], Dataset]] = {
    "digits": _digits,
    "breast_cancer": _sklearn_table("load_breast_cancer", "breast_cancer"),
    "wine": _sklearn_table("load_wine", "wine"),
    "iris": _sklearn_table("load_iris", "iris"),
    "diabetes": _diabetes,
}
IMAGE_SETS = {"digits"}
