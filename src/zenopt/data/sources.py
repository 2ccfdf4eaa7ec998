"""Data sources: scikit-learn's bundled data sets and CSV tables. Nothing is downloaded."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data.dataset import Dataset, Task

__all__ = ["BUNDLED", "load_dataset"]

# Integer targets with at most this many distinct values are read as class labels when
# ``data.task`` is ``auto``; set ``data.task`` to override.
MAX_AUTO_CLASSES = 20


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
    if config.resize is not None and config.resize != images.shape[-1]:
        images = _resize_images(images, config.resize)
    return Dataset(
        name="digits",
        X=np.ascontiguousarray(images),
        y=bunch.target.astype(np.int64),
        task="multiclass",
        kind="image",
        feature_names=[],
        class_names=[str(c) for c in bunch.target_names],
    )


def _resize_images(images: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of (n, c, h, w) images to (n, c, side, side), done once for the set."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        out = F.interpolate(
            torch.from_numpy(images), size=(side, side), mode="bilinear", align_corners=False
        )
    return out.numpy().astype(np.float32)


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


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with the file line each one ends on (for error messages)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            return [(reader.line_num, row) for row in reader if any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not a UTF-8 text file ({exc.reason}); save it as UTF-8 CSV"
        ) from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc}); check its quoting") from None
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read it ({exc.strerror}); check the path and permissions"
        ) from None


def _read_csv(path: Path, config: DataConfig) -> Dataset:
    rows = _read_rows(path)
    if len(rows) < 2:
        raise DataError(f"{path}: empty file or header only; a CSV needs a header and data rows")
    header = [h.strip() for h in rows[0][1]]
    if config.target is None:
        raise DataError(
            f"{path}: data.target is not set; name the target column, one of: {', '.join(header)}"
        )
    if config.target not in header:
        raise DataError(
            f"{path}: target column {config.target!r} not found; columns are: {', '.join(header)}"
        )
    t = header.index(config.target)
    features = [h for i, h in enumerate(header) if i != t]
    X = np.empty((len(rows) - 1, len(features)), dtype=np.float32)
    targets: list[str] = []
    for r, (line, row) in enumerate(rows[1:]):
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} fields, the header has {len(header)}; "
                "fix the row"
            )
        target = row[t].strip()
        if target == "":
            raise DataError(
                f"{path}: line {line}: target {config.target!r} is empty; fill or drop the row"
            )
        targets.append(target)
        values = [cell for i, cell in enumerate(row) if i != t]
        for c, cell in enumerate(values):
            try:
                X[r, c] = float(cell)
            except ValueError:
                raise DataError(
                    f"{path}: line {line}, column {features[c]!r}: {cell!r} is not a number; "
                    "fill or remove it, or drop the column"
                ) from None
            if not np.isfinite(X[r, c]):
                raise DataError(
                    f"{path}: line {line}, column {features[c]!r}: {cell!r} is not finite; "
                    "fill or remove it"
                )
    return _with_target(path.name, X, targets, features, config, str(path))


def _with_target(
    name: str,
    X: np.ndarray,
    targets: list[str],
    features: list[str],
    config: DataConfig,
    where: str,
) -> Dataset:
    numeric: np.ndarray | None
    try:
        numeric = np.asarray([float(v) for v in targets], dtype=np.float64)
    except ValueError:
        numeric = None
    task = config.task
    if task == "auto":
        integral = numeric is not None and bool(np.all(np.isfinite(numeric)))
        integral = integral and bool(np.all(numeric == np.round(numeric)))  # type: ignore[arg-type]
        n_unique = len(set(targets))
        few_integers = integral and n_unique <= MAX_AUTO_CLASSES
        task = "classification" if numeric is None or few_integers else "regression"
    if task == "regression":
        if numeric is None:
            raise DataError(
                f"{where}: target {config.target!r} has non-numeric values, so it cannot be a "
                "regression target; set data.task=classification"
            )
        return Dataset(name, X, numeric.astype(np.float32), "regression", "table", features)
    if numeric is not None:
        labels = sorted(set(numeric.tolist()))
        class_names = [str(int(v)) if float(v).is_integer() else str(v) for v in labels]
        index = {v: i for i, v in enumerate(labels)}
        y = np.asarray([index[v] for v in numeric.tolist()], dtype=np.int64)
    else:
        class_names = sorted(set(targets))
        lookup = {v: i for i, v in enumerate(class_names)}
        y = np.asarray([lookup[v] for v in targets], dtype=np.int64)
    if len(class_names) < 2:
        raise DataError(
            f"{where}: target {config.target!r} has one class only ({class_names[0]!r}); "
            "classification needs at least two"
        )
    return _table(name, X, y, features, class_names)


def load_dataset(config: DataConfig) -> Dataset:
    """Load ``config.source``: a bundled data set's name or the path of a CSV file."""
    source = config.source
    loader = BUNDLED.get(source)
    if loader is not None:
        if source not in IMAGE_SETS and "resize" in config.model_fields_set and config.resize:
            raise DataError(
                f"data.resize={config.resize}: {source!r} is a table, not images; "
                "remove data.resize"
            )
        dataset = loader(config)
        if config.task == "regression" and dataset.task != "regression":
            raise DataError(f"data.task=regression: {source!r} is a classification data set")
        if config.task == "classification" and dataset.task == "regression":
            raise DataError(f"data.task=classification: {source!r} is a regression data set")
        return dataset
    path = Path(source)
    if not path.exists():
        raise DataError(
            f"data.source={source!r}: neither a bundled data set ({', '.join(BUNDLED)}) "
            "nor an existing file"
        )
    if path.is_file() and path.suffix.lower() == ".csv":
        return _read_csv(path, config)
    raise DataError(
        f"data.source={source!r}: unsupported input; give a .csv file or one of: "
        f"{', '.join(BUNDLED)}"
    )
