"""Write small example inputs of every kind zenopt reads, from scikit-learn's bundled data.

    .venv/bin/python examples/make_example_data.py            # writes examples/data/
    .venv/bin/zenopt run --config examples/table_csv.yaml     # then any examples/*.yaml

Nothing is downloaded. The files are real data (breast cancer biopsies, handwritten digits)
in the formats users bring: a CSV and a Parquet table with a text column and missing cells
(and the same biopsies as separate train and test files), NumPy arrays, MNIST-format IDX
files (gzipped, a ``train`` and a ``t10k`` pair) and a folder of PNG images per class.

``visits.csv`` / ``visits_test.csv`` are made up: a clinic's export of patient visits, several
rows per patient, with a visit number, a patient identifier, and a rare outcome (relapse).
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

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
    # the same rows shipped as two files, the last 120 as the given test set
    frame.iloc[:-120].to_csv(out / "biopsies_train.csv", index=False)
    frame.iloc[-120:].to_csv(out / "biopsies_test.csv", index=False)


def clinical_visits(patients: int = 320, seed: int = 0) -> pd.DataFrame:
    """A made-up clinic export: 2–6 visits per patient, about 16% of visits relapse.

    The outcome is the patient's own (an unmeasured risk; 5% of visits read otherwise). Age,
    clinic and a baseline score are fixed per patient and the two markers vary little between
    visits, so a model can recognise a patient it has seen: a split that puts a patient on
    both sides flatters it.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for p in range(patients):
        risk, own_a, own_b = rng.normal(size=3)
        age, clinic = int(rng.integers(25, 86)), str(rng.choice(["north", "south", "east"]))
        baseline = round(float(0.6 * risk + rng.normal(0, 0.8)), 3)
        for _ in range(int(rng.integers(2, 7))):
            relapse = (risk > 1.15) != (rng.random() < 0.05)
            rows.append(
                {
                    "visit": len(rows) + 1,
                    "patient_id": f"P{seed:02d}{p:04d}",
                    "age": age,
                    "clinic": clinic,
                    "baseline": baseline,
                    "marker_a": round(float(own_a + 0.5 * risk + rng.normal(0, 0.15)), 3),
                    "marker_b": round(float(own_b + rng.normal(0, 0.15)), 3),
                    "outcome": "relapse" if relapse else "stable",
                }
            )
    return pd.DataFrame(rows)


def _visits(out: Path) -> None:
    clinical_visits(320, seed=0).to_csv(out / "visits.csv", index=False)
    clinical_visits(100, seed=1).to_csv(out / "visits_test.csv", index=False)


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
    _visits(out)
    images, labels = _digits()
    np.savez_compressed(out / "digits.npz", X=images, y=labels)
    (out / "digits-idx").mkdir(exist_ok=True)
    for name, part in (("train", slice(None, -300)), ("t10k", slice(-300, None))):
        _idx(out / "digits-idx" / f"{name}-images-idx3-ubyte.gz", images[part])
        _idx(out / "digits-idx" / f"{name}-labels-idx1-ubyte.gz", labels[part])
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
