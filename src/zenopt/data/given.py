"""Given validation and test sets (``data.val_source``, ``data.test_source``): read in the
training source's format, checked against it, and appended to it, each row marked with the
split it belongs to. Preprocessing is still fitted on the training rows only.

``data.test_source: auto`` finds the ``t10k`` pair of an IDX training pair, as MNIST ships.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import ConfigError, DataError
from zenopt.data.bundled import BUNDLED
from zenopt.data.columns import excluded_columns
from zenopt.data.dataset import Dataset
from zenopt.data.images import sibling_labels
from zenopt.data.sources import kind_of_path, load_dataset, read_source
from zenopt.data.split import TEST, VAL
from zenopt.data.tables import table_header

__all__ = ["load_run_data", "resolve_given"]


def load_run_data(config: DataConfig) -> tuple[Dataset, list[str]]:
    """The training source with the given validation and test files appended (their rows
    marked in ``Dataset.assigned``), and warnings about them for the console."""
    base = load_dataset(config)
    if config.source in BUNDLED and (config.val_source or config.test_source):
        key = "data.val_source" if config.val_source else "data.test_source"
        raise ConfigError(
            f"{key}: data.source={config.source!r} is bundled and split by zenopt; a given "
            "file goes with a data.source file of the same format"
        )
    given = [(VAL, "data.val_source", config.val_source)]
    given.append((TEST, "data.test_source", config.test_source))
    parts, roles, notes = [base], [0], []
    for role, key, source in given:
        if source is None:
            continue
        path = resolve_given(key, source, config)
        other = _conformed(key, _read_given(key, path, config, base), base)
        notes += _warnings(key, other, base, config)
        parts.append(other)
        roles.append(role)
    if len(parts) == 1:
        return base, []
    return _concatenate(parts, roles), notes


def resolve_given(key: str, source: str, config: DataConfig) -> Path:
    """The given file: its path, or for ``auto`` the IDX ``t10k`` pair of ``data.source``."""
    if source == "auto":
        train = Path(config.source)
        if key != "data.test_source" or not train.is_file() or kind_of_path(train) != "idx":
            raise ConfigError(
                f"{key}=auto finds the t10k pair of IDX training files "
                "(train-images-idx3-ubyte[.gz] → t10k-images-idx3-ubyte[.gz]); "
                f"data.source={config.source!r} is not one: give the file's path"
            )
        if "train" not in train.name:
            raise DataError(
                f"{key}=auto looks for the t10k file of a train-… IDX file, and {train.name} has "
                "no 'train' in its name; give the test images file's path"
            )
        guess = train.with_name(train.name.replace("train", "t10k"))
        if not guess.is_file():
            raise DataError(
                f"{key}=auto: {guess.name} not found next to {train}; "
                "give the test images file's path"
            )
        return guess
    if source in BUNDLED:
        raise ConfigError(
            f"{key}={source!r}: a bundled data set is split by zenopt; give a file or folder"
        )
    path = Path(source)
    if not path.exists():
        raise DataError(f"{key}={source!r}: no such file or folder; give the path of the file")
    return path


def _read_given(key: str, path: Path, config: DataConfig, base: Dataset) -> Dataset:
    """``path`` read as the training source was: same columns, categorical columns, task."""
    kind = kind_of_path(path)
    if (kind == "table") != (base.kind == "table"):
        what = {"table": "a table", "folder": "an image folder", "idx": "IDX images"}.get(kind)
        raise DataError(
            f"{key}: {path} is {what or 'an .npz file'}, but the training data is "
            f"{'a table' if base.kind == 'table' else 'images'}; give a file of the same kind"
        )
    if kind == "idx" and sibling_labels(path) is None:
        raise DataError(
            f"{key}: no labels file next to {path} (…-labels-idx1-ubyte[.gz]); "
            "put the labels file beside it"
        )
    if kind == "table":
        _check_header(key, path, config, base)
    task = "regression" if base.task == "regression" else "classification"
    categorical = list(base.categorical) if base.kind == "table" else config.categorical
    update = {"source": str(path), "labels": None, "task": task, "categorical": categorical}
    return read_source(config.model_copy(update=update))


def _check_header(key: str, path: Path, config: DataConfig, base: Dataset) -> None:
    header = table_header(path)
    needed = base.feature_names + list(base.categorical) + [str(config.target)]
    if config.group:
        needed.append(config.group)
    missing = [name for name in needed if name not in header]
    if missing:
        raise DataError(
            f"{key}: {path} has no column {missing[0]!r}; it needs the training file's "
            f"columns: {', '.join(needed)}"
        )
    extra = [h for h in header if h not in needed and h not in excluded_columns(config)]
    if extra:
        raise DataError(
            f"{key}: {path} has a column {extra[0]!r} that the training data has not; "
            "remove it from that file (or the training file's, if it belongs)"
        )


def _conformed(key: str, other: Dataset, base: Dataset) -> Dataset:
    """``other`` in the training data's column order and class indices, or a clear error."""
    if other.kind != base.kind:  # an .npz of the other kind
        kinds = {"table": "a table", "image": "images"}
        raise DataError(
            f"{key}: {other.name} holds {kinds[other.kind]}, but the training data is "
            f"{kinds[base.kind]}; give a file of the same kind"
        )
    if other.kind == "image" and other.input_shape != base.input_shape:
        got, want = _shape(other.input_shape), _shape(base.input_shape)
        fix = "set data.color" if other.input_shape[0] != base.input_shape[0] else ""
        raise DataError(
            f"{key}: images of {other.name} are {got}, the training images {want}; "
            + (fix or "set data.resize to one side for both")
        )
    if other.kind == "table":
        if sorted(other.feature_names) != sorted(base.feature_names):
            raise DataError(
                f"{key}: {other.name} has the columns {', '.join(other.feature_names)}, "
                f"the training data {', '.join(base.feature_names)}; give the same columns"
            )
        order = [other.feature_names.index(name) for name in base.feature_names]
        other = replace(other, X=other.X[:, order])
    if base.task == "regression":
        return other
    unknown = [c for c in other.class_names if c not in base.class_names]
    if unknown:
        raise DataError(
            f"{key}: class {unknown[0]!r} of {other.name} is not in the training data "
            f"(classes: {', '.join(base.class_names)}); fix the labels or add training examples"
        )
    remap = np.asarray([base.class_names.index(c) for c in other.class_names], dtype=np.int64)
    return replace(other, y=remap[other.y])


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _warnings(key: str, other: Dataset, base: Dataset, config: DataConfig) -> list[str]:
    notes = []
    if other.groups is not None and base.groups is not None:
        shared = sorted(set(other.groups.tolist()) & set(base.groups.tolist()))
        if shared:
            notes.append(
                f"{key}: {len(shared)} {config.group!r} value(s) of {other.name} are in the "
                f"training data too (e.g. {shared[0]!r}), so its score flatters the model on "
                "new groups; keep each group in one file"
            )
    for name, column in other.categorical.items():
        seen = set(base.categorical[name].tolist())
        new = [v for v in column.tolist() if v is not None and v not in seen]
        if new:
            notes.append(
                f"{key}: column {name!r} has {len(set(new))} value(s) the training data has "
                f"not (e.g. {new[0]!r}, {len(new)} rows); they are encoded as unknown"
            )
    return notes


def _concatenate(parts: list[Dataset], roles: list[int]) -> Dataset:
    base = parts[0]
    sizes = [len(p.y) for p in parts]
    assigned = np.concatenate([np.full(n, r, np.int8) for n, r in zip(sizes, roles, strict=True)])
    groups = None
    if base.groups is not None:
        groups = np.concatenate([p.groups for p in parts if p.groups is not None])
    return replace(
        base,
        X=np.concatenate([p.X for p in parts]).astype(np.float32),
        y=np.concatenate([p.y for p in parts]),
        categorical={
            k: np.concatenate([p.categorical[k] for p in parts]) for k in base.categorical
        },
        groups=groups,  # type: ignore[arg-type]
        assigned=assigned,
    )
