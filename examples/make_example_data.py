"""Write small example inputs of every kind zenopt reads, from scikit-learn's bundled data.

    .venv/bin/python examples/make_example_data.py            # writes examples/data/
    .venv/bin/zenopt run --config examples/table_csv.yaml     # then any examples/*.yaml

Nothing is downloaded. The files are real data (breast cancer biopsies, handwritten digits)
in the formats users bring: a CSV and a Parquet table with a text column and missing cells,
NumPy arrays, MNIST-format IDX files (gzipped) and a folder of PNG images per class.
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def _table(out: Path) -> None:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame[
        ["mean radius", "mean texture", "mean smoothness", "worst area", "worst concavity"]
    ].copy()
    rng = np.random.default_rng(0)
    # a categorical column: the biopsy's size class, as a clinician would write it down
    frame["size class"] = pd.cut(
        frame["mean radius"], [0, 12, 16, 100], labels=["small", "medium", "large"]
    ).astype(str)
    for column in ("mean texture", "worst concavity"):
        frame.loc[rng.random(len(frame)) < 0.03, column] = np.nan  # a few missing measurements
    frame["diagnosis"] = np.where(bunch.target == 0, "malignant", "benign")
    frame.to_csv(out / "biopsies.csv", index=False)
    frame.to_parquet(out / "biopsies.parquet", index=False)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images * 255 / 16).round().astype(np.uint8), bunch.target.astype(np.uint8)


def _idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    path.write_bytes(gzip.compress(header + array.tobytes()))


def main(out: Path) -> None:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    _table(out)
    images, labels = _digits()
    np.savez_compressed(out / "digits.npz", X=images, y=labels)
    (out / "digits-idx").mkdir(exist_ok=True)
    _idx(out / "digits-idx" / "train-images-idx3-ubyte.gz", images)
    _idx(out / "digits-idx" / "train-labels-idx1-ubyte.gz", labels)
    for i, (image, label) in enumerate(zip(images[:600], labels[:600], strict=True)):
        folder = out / "digits-png" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).resize((16, 16), Image.Resampling.BILINEAR).save(
            folder / f"{i:04d}.png"
        )
    print(f"example inputs written to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "data")
    main(parser.parse_args().out)
