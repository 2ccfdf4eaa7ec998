"""Which columns of a table are features: ``data.drop``, ``data.group``, and identifier
columns, which are never used silently.

A column looks like an identifier when it is text with a distinct value on at least 90% of
the rows, or holds integers and is named like one (``id``, ``*_id``, ``*Id``, ``uuid``) or
holds consecutive values (a row number). Such a column would be one-hot encoded into as many
features as rows, or let the model learn the row order; the run stops and names the two fixes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import ConfigError, DataError
from zenopt.data.dataset import Dataset

__all__ = [
    "DISTINCT_SHARE",
    "check_column_options",
    "check_identifiers",
    "excluded_columns",
    "identifier_reason",
    "select_columns",
]

DISTINCT_SHARE = 0.9  # a text column distinct on this share of rows is an identifier
MIN_CONSECUTIVE = 10  # fewer distinct consecutive integers than this may be a real feature

_ID_NAME = re.compile(
    r"^$|^Unnamed: \d+$"  # the row index pandas writes without index=False (read back)
    r"|^(?i:id|uuid|guid)$"  # id, ID, uuid
    r"|(?i:[_\s.-](id|uuid|guid))$"  # patient_id, Patient ID, record-uuid
    r"|[a-z0-9](Id|ID|Uuid|UUID)$"  # patientId, PatientID, recordUuid
)


def excluded_columns(config: DataConfig) -> set[str]:
    """Columns that are not features: the dropped ones and the group."""
    return set(config.drop) | ({config.group} if config.group else set())


def check_column_options(header: Sequence[str], config: DataConfig, where: str) -> None:
    """``data.drop`` and ``data.group`` name columns of this table, and not the target."""
    columns = ", ".join(h for h in header if h != config.target)
    for name in config.drop:
        if name not in header:
            raise ConfigError(f"data.drop: {name!r} is not a column of {where}; columns: {columns}")
        if name == config.target:
            raise ConfigError(f"data.drop: {name!r} is the target (data.target); remove it")
    if config.group is None:
        return
    if config.group not in header:
        raise ConfigError(
            f"data.group: {config.group!r} is not a column of {where}; columns: {columns}"
        )
    if config.group == config.target or config.group in config.drop:
        what = "the target" if config.group == config.target else "in data.drop too"
        raise ConfigError(f"data.group: {config.group!r} is {what}; name another column")


def identifier_reason(name: str, values: np.ndarray) -> str | None:
    """Why the column looks like an identifier, or None. ``values``: floats (NaN where
    missing) or an object array of text (None where missing)."""
    if values.dtype.kind == "f":
        present = values[~np.isnan(values)]
        if present.size == 0 or not np.all(present == np.round(present)):
            return None
        if _ID_NAME.search(name):
            return (
                "integers, named like an identifier"
                if name and not name.startswith("Unnamed: ")
                else "integers in an unnamed column: a row index saved with the data"
            )
        distinct = np.unique(present)
        span = float(distinct[-1] - distinct[0]) + 1 if distinct.size else 0.0
        if distinct.size == present.size >= MIN_CONSECUTIVE and span == distinct.size:
            return f"consecutive integers {int(distinct[0])}…{int(distinct[-1])}, one per row"
        return None
    present_text = [v for v in values if v is not None]
    if _ID_NAME.search(name):
        return "named like an identifier"
    distinct_count = len(set(present_text))
    if len(values) >= 2 and distinct_count >= DISTINCT_SHARE * len(values):
        share = distinct_count / len(values)
        return f"text with a distinct value on {share:.0%} of rows"
    return None


def check_identifiers(dataset: Dataset, config: DataConfig) -> None:
    """Stop on the first feature column of a table that looks like an identifier."""
    if dataset.kind != "table" or config.keep_ids:
        return
    n = len(dataset.y)
    columns: list[tuple[str, np.ndarray]] = [
        (name, dataset.X[:, j].astype(np.float64)) for j, name in enumerate(dataset.feature_names)
    ]
    columns += list(dataset.categorical.items())
    for name, values in columns:
        reason = identifier_reason(name, values)
        if reason is not None:
            raise DataError(
                f"{dataset.name}: column {name!r} looks like an identifier ({reason}, {n} rows), "
                f"so it would not generalise; drop it with data.drop=[{_item(name)}], or set "
                "data.keep_ids=true to use it anyway"
            )


def _item(name: str) -> str:
    """A column name as a YAML list item: quoted when it is empty or not a plain word."""
    plain = re.fullmatch(r"[A-Za-z_][\w .-]*", name) and name == name.strip()
    return name if plain else f'"{name}"'


def select_columns(dataset: Dataset, config: DataConfig) -> Dataset:
    """``data.drop`` and ``data.group`` on a data set read without them (scikit-learn's
    tables, an .npz table): the dropped features removed, the group's values set aside."""
    if not config.drop and config.group is None:
        return dataset
    if dataset.kind != "table":
        option = "data.drop" if config.drop else "data.group"
        raise ConfigError(f"{option}: {dataset.name!r} is images, not a table; remove {option}")
    names = dataset.feature_names + list(dataset.categorical)
    check_column_options(names, config, repr(dataset.name))
    excluded = excluded_columns(config)
    keep = [j for j, name in enumerate(dataset.feature_names) if name not in excluded]
    groups = None
    if config.group in dataset.feature_names:
        column = dataset.X[:, dataset.feature_names.index(config.group)]
        groups = np.asarray([repr(float(v)) for v in column], dtype=object)
    elif config.group is not None:
        groups = dataset.categorical[config.group]
    cats = {k: v for k, v in dataset.categorical.items() if k not in excluded}
    return replace(
        dataset,
        X=np.ascontiguousarray(dataset.X[:, keep]),
        feature_names=[dataset.feature_names[j] for j in keep],
        categorical=cats,
        groups=groups,
    )
