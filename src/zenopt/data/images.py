"""Image and array inputs: NumPy .npz, MNIST-format IDX files (gzipped or not), image folders."""

from __future__ import annotations

import gzip
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import DataError
from zenopt.data.dataset import Dataset
from zenopt.data.targets import canonical_label, dataset_with_target

__all__ = [
    "IMAGE_SUFFIXES",
    "class_folders",
    "folder_arrays",
    "idx_arrays",
    "image_files",
    "labels_text",
    "npz_arrays",
    "npz_features",
    "read_idx",
    "read_image_folder",
    "read_npz",
    "resize_images",
    "sibling_labels",
    "sized",
    "stack_images",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif"})
# IDX type byte -> big-endian NumPy dtype (the format of the classic MNIST files)
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def resize_images(images: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of (n, c, h, w) images to (n, c, side, side), done once for the set."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        out = F.interpolate(
            torch.from_numpy(images), size=(side, side), mode="bilinear", align_corners=False
        )
    return out.numpy().astype(np.float32)


def _to_images(X: np.ndarray, path: Path) -> np.ndarray:
    """(n, h, w) or (n, c, h, w) or channels-last (n, h, w, c) to float32 (n, c, h, w)."""
    if X.ndim == 3:
        return X[:, None, :, :].astype(np.float32)
    if X.shape[1] in (1, 3):
        return X.astype(np.float32)
    if X.shape[3] in (1, 3):
        return np.ascontiguousarray(X.transpose(0, 3, 1, 2)).astype(np.float32)
    raise DataError(
        f"{path}: X has shape {X.shape}; images must be (n, h, w), (n, c, h, w) or (n, h, w, c) "
        "with 1 or 3 channels"
    )


def labels_text(y: np.ndarray, path: Path, key: str) -> list[str]:
    """Label values as text (whole numbers without a decimal point), checked for shape/finite."""
    if y.ndim != 1:
        raise DataError(f"{path}: {key} has shape {y.shape}; labels must be one value per sample")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            bad = int(np.flatnonzero(~np.isfinite(y))[0])
            raise DataError(f"{path}: {key}[{bad}] is {y[bad]}; labels must be finite")
        return [canonical_label(float(v)) for v in y]
    if y.dtype.kind in "iub":
        return [str(int(v)) for v in y]
    return [str(v) for v in y]


def _finite_features(X: np.ndarray, path: Path) -> None:
    finite = np.isfinite(X.reshape(X.shape[0], -1))
    if not finite.all():
        row, col = (int(v[0]) for v in np.nonzero(~finite))
        raise DataError(
            f"{path}: X[{row}] has a NaN or infinite value at flat index {col}; clean the "
            "array (a table may keep NaN when data.impute is set)"
        )


def npz_arrays(path: Path, need_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays ``X`` and ``y`` of an .npz file, checked; ``y`` may be absent for prediction."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"{path}: not a readable .npz file ({exc}); re-save it with np.savez"
        ) from None
    x_key = next((k for k in ("X", "x") if k in arrays), None)
    y_key = next((k for k in ("y", "Y") if k in arrays), None)
    if x_key is None or (need_labels and y_key is None):
        wanted = "'X' and 'y'" if need_labels else "'X'"
        raise DataError(
            f"{path}: needs arrays named {wanted}; it has: {', '.join(arrays) or 'none'}"
        )
    X, y = arrays[x_key], (arrays[y_key] if y_key is not None else None)
    if y is not None and X.shape[0] != y.shape[0]:
        raise DataError(
            f"{path}: X has {X.shape[0]} samples but y has {y.shape[0]}; they must match"
        )
    if X.shape[0] == 0:
        raise DataError(f"{path}: X is empty; save at least one sample")
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: X has dtype {X.dtype}; it must be numeric")
    if X.ndim not in (2, 3, 4):
        raise DataError(f"{path}: X has {X.ndim} dimensions; use 2 (table) or 3/4 (images)")
    return X, y


def npz_features(X: np.ndarray, path: Path, config: DataConfig) -> np.ndarray:
    """Model-ready float32 features: a table (NaN allowed when imputing) or (n, c, h, w) images."""
    if X.ndim == 2:
        if config.impute == "none":
            _finite_features(X, path)
        elif np.isinf(X).any():
            row, col = (int(v[0]) for v in np.nonzero(np.isinf(X)))
            raise DataError(f"{path}: X[{row}, {col}] is infinite; replace it (NaN is imputed)")
        return X.astype(np.float32)
    images = _to_images(X, path)
    _finite_features(images, path)
    side = config.image_side(None)
    if side is not None and images.shape[-2:] != (side, side):
        images = resize_images(images, side)
    return images


def read_npz(path: Path, config: DataConfig) -> Dataset:
    X, y = npz_arrays(path)
    assert y is not None
    targets = labels_text(y, path, "y")
    features = npz_features(X, path, config)
    kind: Literal["table", "image"] = "table" if X.ndim == 2 else "image"
    names = [f"x{i}" for i in range(X.shape[1])] if kind == "table" else None
    return dataset_with_target(
        str(path), features, targets, config, str(path), kind=kind, features=names, what="y"
    )


def _read_idx_array(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: truncated or corrupt file ({exc}); download or copy it again"
        ) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number); expected MNIST-format IDX")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header; copy the file again")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header < expected:
        raise DataError(
            f"{path}: truncated: the header promises {expected} bytes of data for shape {dims}, "
            f"the file has {len(data) - header}; copy the file again"
        )
    return np.frombuffer(data, dtype=dtype, count=int(np.prod(dims)), offset=header).reshape(dims)


def sibling_labels(path: Path) -> Path | None:
    """``…-images-idx3-ubyte[.gz]`` → ``…-labels-idx1-ubyte[.gz]`` when that file exists."""
    guess = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
    return guess if guess != path and guess.is_file() else None


def idx_arrays(
    path: Path, labels_path: Path | None, need_labels: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (n, c, h, w) of an IDX file and, when a labels file is given, its labels."""
    images = _read_idx_array(path)
    if images.ndim not in (3, 4):
        raise DataError(f"{path}: IDX array has shape {images.shape}; images need (n, h, w)")
    if labels_path is None and need_labels:
        raise DataError(
            f"{path}: no labels file found next to it; set data.labels to the labels IDX file"
        )
    labels = None
    if labels_path is not None:
        if not labels_path.is_file():
            raise DataError(
                f"data.labels={str(labels_path)!r}: file not found; give the labels IDX file"
            )
        labels = np.asarray(_read_idx_array(labels_path)).reshape(-1)
        if labels.shape[0] != images.shape[0]:
            raise DataError(
                f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in "
                f"{path}; use the labels file that belongs to these images"
            )
    return _to_images(np.asarray(images), path), labels


def sized(images: np.ndarray, config: DataConfig) -> np.ndarray:
    side = config.image_side(None)
    if side is not None and images.shape[-2:] != (side, side):
        return resize_images(images, side)
    return images


def read_idx(path: Path, config: DataConfig) -> Dataset:
    labels_path = Path(config.labels) if config.labels is not None else sibling_labels(path)
    X, labels = idx_arrays(path, labels_path)
    assert labels is not None and labels_path is not None
    targets = labels_text(labels, labels_path, "labels")
    return dataset_with_target(
        str(path), sized(X, config), targets, config, str(path), kind="image", what="labels"
    )


def _load_image(file: Path, mode: str, side: int | None) -> np.ndarray:
    """One image file as (c, h, w) float32, converted to ``mode`` and resized to ``side``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.load()
            picture = img.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{file}: not a readable image ({exc}); remove or replace it") from None
    if side is not None:
        picture = picture.resize((side, side), Image.Resampling.BILINEAR)
    array = np.asarray(picture, dtype=np.float32)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def stack_images(files: list[Path], config: DataConfig) -> np.ndarray:
    """Image files as one (n, c, h, w) float32 array: resized to ``data.resize`` when it is
    set, else all of one size."""
    mode = "L" if config.color == "grayscale" else "RGB"
    side = config.image_side(None)
    images = [_load_image(file, mode, side) for file in files]
    for file, image in zip(files, images, strict=True):
        if image.shape[1:] != images[0].shape[1:]:
            (h, w), (h0, w0) = image.shape[1:], images[0].shape[1:]
            raise DataError(
                f"{file}: {w}x{h} pixels but {files[0]} is {w0}x{h0}; set data.resize to give "
                "all images one size"
            )
    return np.stack(images)


def class_folders(root: Path) -> list[Path]:
    """The sub-folders of ``root`` (hidden ones aside): one per class."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_arrays(root: Path, config: DataConfig) -> tuple[np.ndarray, list[str]]:
    """Images of ``root/<class>/*`` as (n, c, h, w) float32, with each one's class folder."""
    classes = class_folders(root)
    if not classes:
        raise DataError(f"{root}: no class sub-folders; put each class's images in root/<class>/")
    files: list[Path] = []
    targets: list[str] = []
    for folder in classes:
        found = image_files(folder)
        if not found:
            raise DataError(
                f"{folder}: class folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        files += found
        targets += [folder.name] * len(found)
    return stack_images(files, config), targets


def read_image_folder(root: Path, config: DataConfig) -> Dataset:
    if config.task == "regression":
        raise DataError(
            f"data.task=regression: {root} is a folder of classes; remove data.task or use "
            "an .npz file with numeric targets"
        )
    images, targets = folder_arrays(root, config)
    config_cls = config.model_copy(update={"task": "classification"})
    return dataset_with_target(
        str(root), images, targets, config_cls, str(root), kind="image", what="class folders"
    )
