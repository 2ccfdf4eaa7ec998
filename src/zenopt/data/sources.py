"""Where data comes from: a bundled data set's name, or a file or folder path.

| source | reader |
|---|---|
| digits, breast_cancer, wine, iris, diabetes | scikit-learn's bundled sets |
| ``*.csv`` / ``*.parquet`` | tables with a target column (``data.target``) |
| ``*.npz`` | arrays ``X`` and ``y`` (tables or images) |
| ``*-idx3-ubyte[.gz]`` | MNIST-format IDX images, with the matching labels file |
| a folder | images, one sub-folder per class |
"""

from __future__ import annotations

from pathlib import Path

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data.bundled import BUNDLED, IMAGE_SETS
from zenopt.data.columns import check_identifiers, select_columns
from zenopt.data.dataset import Dataset
from zenopt.data.images import read_idx, read_image_folder, read_npz
from zenopt.data.tables import read_csv, read_parquet

__all__ = ["BUNDLED", "kind_of_path", "load_dataset", "read_source"]

SUPPORTED = ".csv, .parquet, .npz, an IDX file (*-idx3-ubyte[.gz]) or an image folder"


def _is_idx(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return "-idx" in name or name.endswith(".idx") or name.endswith("ubyte")


def kind_of_path(path: Path) -> str:
    """``folder``, ``table`` (.csv/.parquet), ``npz`` or ``idx``; anything else is an error."""
    if path.is_dir():
        return "folder"
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file; give a file with data")
    suffix = path.suffix.lower()
    if suffix in {".csv", ".parquet", ".pq"}:
        return "table"
    if suffix == ".npz":
        return "npz"
    if _is_idx(path):
        return "idx"
    raise DataError(f"data.source={str(path)!r}: unsupported file type; give {SUPPORTED}")


def _load_path(path: Path, config: DataConfig) -> Dataset:
    kind = kind_of_path(path)
    if kind == "folder":
        return select_columns(read_image_folder(path, config), config)
    if kind == "table":  # data.drop and data.group apply as the table is read
        return (
            read_csv(path, config) if path.suffix.lower() == ".csv" else read_parquet(path, config)
        )
    return select_columns(
        read_npz(path, config) if kind == "npz" else read_idx(path, config), config
    )


def load_dataset(config: DataConfig) -> Dataset:
    """Load ``config.source`` with ``data.drop``/``data.group`` applied, check it fits
    ``config.task``, and that no feature looks like an identifier (unless ``data.keep_ids``)."""
    dataset = read_source(config)
    check_identifiers(dataset, config)
    return dataset


def read_source(config: DataConfig) -> Dataset:
    """``config.source`` as read, with ``data.drop``/``data.group`` applied (no identifier
    check: a given test file is checked against the training file instead)."""
    source = config.source
    loader = BUNDLED.get(source)
    if loader is not None:
        if source not in IMAGE_SETS and config.resize not in ("auto", None):
            raise DataError(
                f"data.resize={config.resize}: {source!r} is a table, not images; "
                "remove data.resize"
            )
        dataset = loader(config)
        if config.task == "regression" and dataset.task != "regression":
            raise DataError(f"data.task=regression: {source!r} is a classification data set")
        if config.task == "classification" and dataset.task == "regression":
            raise DataError(f"data.task=classification: {source!r} is a regression data set")
        return select_columns(dataset, config)
    path = Path(source)
    if not path.exists():
        raise DataError(
            f"data.source={source!r}: neither a bundled data set ({', '.join(BUNDLED)}) "
            "nor an existing file or folder"
        )
    return _load_path(path, config)
