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
from zenopt.data.dataset import Dataset
from zenopt.data.images import read_idx, read_image_folder, read_npz
from zenopt.data.tables import read_csv, read_parquet

__all__ = ["BUNDLED", "kind_of_path", "load_dataset"]

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
        return read_image_folder(path, config)
    if kind == "table":
        return (
            read_csv(path, config) if path.suffix.lower() == ".csv" else read_parquet(path, config)
        )
    return read_npz(path, config) if kind == "npz" else read_idx(path, config)


def load_dataset(config: DataConfig) -> Dataset:
    """Load ``config.source`` and check it fits ``config.task``."""
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
        return dataset
    path = Path(source)
    if not path.exists():
        raise DataError(
            f"data.source={source!r}: neither a bundled data set ({', '.join(BUNDLED)}) "
            "nor an existing file or folder"
        )
    return _load_path(path, config)
