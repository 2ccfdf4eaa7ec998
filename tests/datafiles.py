"""Writers of small input files of every supported kind, for tests. Nothing is downloaded."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, gz: bool | None = None) -> Path:
    """Write ``array`` (uint8) in MNIST's IDX format; gzip it when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz if gz is not None else path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def digit_images(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scikit-learn's digits as uint8 8×8 images (0..255) and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(bunch.target), n, replace=False)
    images = (bunch.images[pick] * 255 / 16).round().astype(np.uint8)
    return images, bunch.target[pick].astype(np.uint8)


def write_image_folder(
    root: Path, images: np.ndarray, labels: np.ndarray, suffix: str = ".png"
) -> Path:
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / f"class_{int(label)}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}{suffix}")
    return root


def mixed_table(n: int = 200, seed: int = 0) -> dict[str, list[object]]:
    """A table with numeric, categorical and missing values; the label depends on all."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    score = x1 + 0.5 * x2 + (colour == "red") * 1.5
    label = np.where(score > 0.5, "yes", "no")
    x2_text: list[object] = [f"{v:.4f}" for v in x2]
    for i in range(0, n, 17):
        x2_text[i] = ""  # missing values
    return {
        "x1": [f"{v:.4f}" for v in x1],
        "x2": x2_text,
        "colour": list(colour),
        "label": list(label),
    }


def write_csv(path: Path, columns: dict[str, list[object]]) -> Path:
    names = list(columns)
    rows = zip(*(columns[c] for c in names), strict=True)
    path.write_text(",".join(names) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path
