"""Tables from CSV and Parquet files: numeric and categorical columns, missing values, a target.

Every problem is reported with the file, the line (CSV) or row (Parquet) and the column.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError, first_line
from zenopt.data.columns import check_column_options, excluded_columns
from zenopt.data.dataset import Dataset
from zenopt.data.targets import canonical_label, dataset_with_target

__all__ = [
    "MISSING_TOKENS",
    "RawTable",
    "group_column",
    "numeric_column",
    "read_csv",
    "read_parquet",
    "read_table",
    "stack_columns",
    "table_header",
    "target_texts",
    "text_column",
]

# Cells that mean "no value" (compared case-insensitively after stripping blanks).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})

Where = Callable[[int], str]  # row index -> "line 7" / "row 6"


@dataclass(frozen=True)
class RawTable:
    """A table as read: header, one array per column (text, or floats from Parquet), and how
    to name a row in an error message."""

    path: Path
    header: list[str]
    columns: list[np.ndarray]
    where: Where

    def __post_init__(self) -> None:
        if len(set(self.header)) != len(self.header):
            dup = next(h for h in self.header if self.header.count(h) > 1)
            raise DataError(f"{self.path}: column {dup!r} appears twice in the header; rename one")

    @property
    def rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def column(self, name: str) -> np.ndarray:
        return self.columns[self.header.index(name)]


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
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


def table_header(path: Path) -> list[str]:
    """A table's column names, without reading its rows."""
    if path.suffix.lower() != ".csv":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        try:
            return [str(name) for name in pq.read_schema(path).names if name != "__index_level_0__"]
        except Exception as exc:  # pyarrow's own error types
            raise DataError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            row = next((r for r in csv.reader(handle) if any(c.strip() for c in r)), [])
    except (UnicodeDecodeError, csv.Error, OSError):
        return read_csv_columns(path).header  # its own error, naming the problem
    return [h.strip() for h in row]


def read_table(path: Path) -> RawTable:
    """Read a .csv or .parquet file into a RawTable."""
    if path.suffix.lower() == ".csv":
        return read_csv_columns(path)
    return read_parquet_columns(path)


def read_csv(path: Path, config: DataConfig) -> Dataset:
    return _build(read_csv_columns(path), config)


def read_parquet(path: Path, config: DataConfig) -> Dataset:
    return _build(read_parquet_columns(path), config)


def read_csv_columns(path: Path) -> RawTable:
    rows = _csv_rows(path)
    if not rows:
        raise DataError(f"{path}: empty file; a CSV needs a header and data rows")
    if len(rows) < 2:
        raise DataError(f"{path}: header only, no data rows; add rows")
    header = [h.strip() for h in rows[0][1]]
    lines = [line for line, _ in rows[1:]]
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {line} has {len(row)} fields, the header has {len(header)}; "
                "fix the row"
            )
    body = np.asarray([row for _, row in rows[1:]], dtype=object)
    columns = [body[:, i] for i in range(len(header))]
    return RawTable(path, header, columns, lambda i: f"line {lines[i]}")


def read_parquet_columns(path: Path) -> RawTable:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        first = first_line(exc)
        first = re.sub(r"^Could not open Parquet input source '[^']*': ", "", first)
        raise DataError(f"{path}: not a readable Parquet file ({first})") from None
    if frame.shape[0] == 0:
        raise DataError(f"{path}: no rows; the table is empty")
    header = [str(c) for c in frame.columns]
    columns = []
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "biuf":
            columns.append(series.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            values = series.to_numpy(dtype=object)
            columns.append(
                np.asarray([None if _is_null(v) else str(v) for v in values], dtype=object)
            )
    return RawTable(path, header, columns, lambda i: f"row {i + 1}")


def _is_null(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _missing_mask(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind == "f":
        mask: np.ndarray = np.isnan(column)
        return mask
    # vectorised: a None cell becomes "None", which is a missing token too
    text = np.char.lower(np.char.strip(column.astype(str)))
    return np.isin(text, list(MISSING_TOKENS))


def _plain_numbers(column: np.ndarray) -> np.ndarray | None:
    """One vectorised conversion for the common case of a column of plain numbers (and float
    Parquet columns); None when some cell needs the careful path."""
    try:
        return column.astype(np.float64)
    except (ValueError, TypeError):
        return None


def _to_numbers(column: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Float values (NaN where missing) and the index of the first non-numeric cell, if any."""
    text = np.where(missing, "nan", column).astype(str)
    try:
        return text.astype(np.float64), None
    except ValueError:
        pass
    values = np.full(len(column), np.nan)
    first_bad = None
    for i, cell in enumerate(text):
        try:
            values[i] = float(cell)
        except ValueError:
            first_bad = i if first_bad is None else first_bad
    return values, first_bad


def text_column(raw: RawTable, name: str) -> np.ndarray:
    """A categorical column as an object array of str, None where missing."""
    column = raw.column(name)
    missing = _missing_mask(column)
    return np.asarray(
        [None if m else str(v).strip() for v, m in zip(column, missing, strict=True)], dtype=object
    )


def numeric_column(
    raw: RawTable, name: str, impute: str, *, detect: bool = False
) -> np.ndarray | None:
    """Float values of a numeric column (NaN where missing), checked cell by cell.

    With ``detect``, a column whose values are mostly text returns None (it is categorical);
    a column of numbers with a few text cells is an error naming the first one.
    """
    column = raw.column(name)
    plain = _plain_numbers(column)
    if plain is not None:
        values, missing, first_bad = plain, np.isnan(plain), None
    else:  # some cell is not a plain number: the careful, cell-by-cell path
        missing = _missing_mask(column)
        values, first_bad = _to_numbers(column, missing)
    if first_bad is not None:
        present = int((~missing).sum())
        text_share = float(np.isnan(values[~missing]).sum()) / max(present, 1)
        if detect and text_share > 0.5:
            return None
        raise DataError(
            f"{raw.path}: {raw.where(first_bad)}, column {name!r}: {column[first_bad]!r} is "
            "not a number; fix it, list the column in data.categorical, or data.drop it"
        )
    infinite = np.isinf(values)
    if infinite.any():
        r = int(np.flatnonzero(infinite)[0])
        raise DataError(
            f"{raw.path}: {raw.where(r)}, column {name!r}: {column[r]!r} is infinite; "
            "replace it with a finite value or leave the cell empty"
        )
    if missing.any() and impute == "none":
        r = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{raw.path}: {raw.where(r)}, column {name!r}: missing value and no imputation is "
            "configured; set data.impute (mean, median, most_frequent or constant) or fill it"
        )
    return values


def target_texts(raw: RawTable, target: str) -> list[str]:
    column = raw.column(target)
    missing = _missing_mask(column)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(
            f"{raw.path}: {raw.where(i)}: target {target!r} is empty; fill or drop the row"
        )
    return [_label_text(v) for v in column]


def _build(raw: RawTable, config: DataConfig) -> Dataset:
    path, header = raw.path, raw.header
    if config.target is None:
        raise DataError(
            f"{path}: data.target is not set; name the target column, one of: {', '.join(header)}"
        )
    if config.target not in header:
        raise DataError(
            f"{path}: target column {config.target!r} not found; columns are: {', '.join(header)}"
        )
    check_column_options(header, config, str(path))
    excluded = excluded_columns(config) | {config.target}
    declared = list(config.categorical or [])
    unknown = [c for c in declared if c not in header or c in excluded]
    if unknown:
        raise DataError(
            f"data.categorical: column {unknown[0]!r} is not a feature column of {path}; "
            f"columns are: {', '.join(h for h in header if h not in excluded)}"
        )
    targets = target_texts(raw, config.target)
    numeric_names: list[str] = []
    numeric_values: list[np.ndarray] = []
    categorical: dict[str, np.ndarray] = {}
    detect = config.categorical is None  # given: exactly those columns are categorical
    for name in (h for h in header if h not in excluded):
        values = (
            None if name in declared else numeric_column(raw, name, config.impute, detect=detect)
        )
        if values is None:
            categorical[name] = text_column(raw, name)
        else:
            numeric_names.append(name)
            numeric_values.append(values)
    X = stack_columns(numeric_values, raw.rows)
    dataset = dataset_with_target(
        str(path),
        X,
        targets,
        config,
        str(path),
        features=numeric_names,
        categorical=categorical,
        what=f"target {config.target!r}",
    )
    return dataset if config.group is None else replace(dataset, groups=group_column(raw, config))


def group_column(raw: RawTable, config: DataConfig) -> np.ndarray:
    """The ``data.group`` column's values as text; an empty cell is an error."""
    assert config.group is not None
    values = text_column(raw, config.group)
    missing = [i for i, v in enumerate(values) if v is None]
    if missing:
        raise DataError(
            f"{raw.path}: {raw.where(missing[0])}, column {config.group!r}: empty, but it is "
            "data.group; fill it (every row needs its group) or drop the row"
        )
    return values


def stack_columns(values: list[np.ndarray], rows: int) -> np.ndarray:
    stacked = np.stack(values, axis=1) if values else np.empty((rows, 0))
    return stacked.astype(np.float32)


def _label_text(value: object) -> str:
    """A target cell as text; a float from Parquet is named as a numeric class would be."""
    return canonical_label(value) if isinstance(value, float) else str(value).strip()
