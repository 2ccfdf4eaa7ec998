"""Bad inputs: each gives one exact line naming the file, place and fix; exit 2; no run folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tests.bad_input import assert_one_line_error
from tests.datafiles import digit_images, write_idx, write_image_folder
from typer.testing import CliRunner

runner = CliRunner()
Setup = Callable[[Path], list[str]]


def _csv(text: str, name: str = "d.csv", **sets: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        (tmp / name).write_text(text)
        return [f"data.source={tmp / name}", *(f"data.{k}={v}" for k, v in sets.items())]

    return setup


def _bytes(name: str, data: bytes, **sets: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        (tmp / name).write_bytes(data)
        return [f"data.source={tmp / name}", *(f"data.{k}={v}" for k, v in sets.items())]

    return setup


def _npz(task: str | None = None, **arrays: np.ndarray) -> Setup:
    def setup(tmp: Path) -> list[str]:
        np.savez(tmp / "a.npz", **arrays)  # type: ignore[arg-type]
        return [f"data.source={tmp / 'a.npz'}", *([f"data.task={task}"] if task else [])]

    return setup


def _idx(images: np.ndarray, labels: np.ndarray | None, cut: int = 0, gz: bool = False) -> Setup:
    def setup(tmp: Path) -> list[str]:
        name = "train-images-idx3-ubyte" + (".gz" if gz else "")
        path = write_idx(tmp / name, images)
        if cut:
            path.write_bytes(path.read_bytes()[:-cut])
        if labels is not None:
            write_idx(tmp / name.replace("images-idx3", "labels-idx1"), labels)
        return [f"data.source={path}"]

    return setup


def _folder(build: Callable[[Path], None], **sets: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        build(tmp / "imgs")
        return [f"data.source={tmp / 'imgs'}", *(f"data.{k}={v}" for k, v in sets.items())]

    return setup


IMAGES, LABELS = digit_images(30)


def _existing_study(tmp: Path) -> list[str]:
    """A study in a shared SQLite file, created with another search space."""
    from zenopt.core.config import TuneConfig
    from zenopt.tune.storage import open_storage
    from zenopt.tune.study import open_study

    url = f"sqlite:///{tmp / 'shared.db'}"
    space = {"train.lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}
    open_study(
        open_storage(url, TuneConfig()), "shared", "maximize", TuneConfig(), space, {}, 0, url
    )
    return [
        "data.source=iris",
        f"tune.storage={url}",
        "tune.study=shared",
        "tune.space.train.lr={type: float, low: 0.0001, high: 0.1, log: true}",
    ]


def _empty_class(root: Path) -> None:
    write_image_folder(root, IMAGES[:6], LABELS[:6])
    (root / "class_empty").mkdir()


def _corrupt_image(root: Path) -> None:
    write_image_folder(root, IMAGES[:6], LABELS[:6])
    (root / "class_9").mkdir(exist_ok=True)
    (root / "class_9" / "bad.png").write_bytes(b"\x89PNG not really")


def _mixed_sizes(root: Path) -> None:
    from PIL import Image

    write_image_folder(root, IMAGES[:6], LABELS[:6])
    (root / "class_9").mkdir(exist_ok=True)
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "class_9" / "big.png")


def _no_classes(root: Path) -> None:
    root.mkdir()
    (root / "loose.png").write_bytes(b"")


def _gz_cut(tmp: Path) -> list[str]:
    path = write_idx(tmp / "t-images-idx3-ubyte.gz", IMAGES)
    path.write_bytes(path.read_bytes()[:40])
    write_idx(tmp / "t-labels-idx1-ubyte.gz", LABELS)
    return [f"data.source={path}"]


def _labels_named(tmp: Path) -> list[str]:
    path = write_idx(tmp / "imgs.idx", IMAGES)
    return [f"data.source={path}", f"data.labels={tmp / 'nope-labels.idx'}"]


GOOD_ROWS = "".join(f"{i},{i % 2}\n" for i in range(20))
CASES: list[tuple[str, Setup, str]] = [
    (
        "missing file",
        lambda t: [f"data.source={t / 'nope.csv'}"],
        "data.source='{t}/nope.csv': neither a bundled data set (digits, breast_cancer, wine, iris, diabetes) nor an existing file or folder",
    ),
    ("empty file", _bytes("e.csv", b""), "{t}/e.csv: empty file; give a file with data"),
    (
        "blank csv",
        _csv("\n\n", target="y"),
        "{t}/d.csv: empty file; a CSV needs a header and data rows",
    ),
    ("header only", _csv("a,y\n", target="y"), "{t}/d.csv: header only, no data rows; add rows"),
    (
        "unknown target",
        _csv("a,y\n" + GOOD_ROWS, target="label"),
        "{t}/d.csv: target column 'label' not found; columns are: a, y",
    ),
    (
        "target not set",
        _csv("a,y\n" + GOOD_ROWS),
        "{t}/d.csv: data.target is not set; name the target column, one of: a, y",
    ),
    (
        "one class",
        _csv("a,y\n" + "".join(f"{i},1\n" for i in range(9)), target="y"),
        "{t}/d.csv: target 'y' has one class only ('1'); classification needs at least two",
    ),
    (
        "text in numbers",
        _csv("a,y\n1,0\n2,1\nfoo,0\n4,1\n", target="y"),
        "{t}/d.csv: line 4, column 'a': 'foo' is not a number; fix it, list the column in data.categorical, or data.drop it",
    ),
    (
        "infinite",
        _csv("a,y\n1,0\ninf,1\n", target="y"),
        "{t}/d.csv: line 3, column 'a': 'inf' is infinite; replace it with a finite value or leave the cell empty",
    ),
    (
        "missing without impute",
        _csv("a,y\n1,0\nNA,1\n", target="y"),
        "{t}/d.csv: line 3, column 'a': missing value and no imputation is configured; set data.impute (mean, median, most_frequent or constant) or fill it",
    ),
    (
        "missing target",
        _csv("a,y\n1,0\n2,\n", target="y"),
        "{t}/d.csv: line 3: target 'y' is empty; fill or drop the row",
    ),
    (
        "ragged row",
        _csv("a,y\n1,0\n2,1,3\n", target="y"),
        "{t}/d.csv: line 3 has 3 fields, the header has 2; fix the row",
    ),
    (
        "duplicate column",
        _csv("a,a,y\n1,2,0\n", target="y"),
        "{t}/d.csv: column 'a' appears twice in the header; rename one",
    ),
    (
        "unknown categorical",
        _csv("a,y\n" + GOOD_ROWS, target="y", categorical="[colour]"),
        "data.categorical: column 'colour' is not a feature column of {t}/d.csv; columns are: a",
    ),
    (
        "text regression target",
        _csv("a,y\n1,cat\n2,dog\n", target="y", task="regression"),
        "{t}/d.csv: target 'y' has non-numeric values, so it cannot be a regression target; set data.task=classification",
    ),
    (
        "not utf-8",
        _bytes("d.csv", b"a,y\n1,caf\xe9\n", target="y"),
        "{t}/d.csv: not a UTF-8 text file (invalid continuation byte); save it as UTF-8 CSV",
    ),
    (
        "unsupported suffix",
        _bytes("d.txt", b"a b\n"),
        "data.source='{t}/d.txt': unsupported file type; give .csv, .parquet, .npz, an IDX file (*-idx3-ubyte[.gz]) or an image folder",
    ),
    (
        "npz keys",
        _npz(images=np.zeros((4, 2))),
        "{t}/a.npz: needs arrays named 'X' and 'y'; it has: images",
    ),
    (
        "npz lengths",
        _npz(X=np.zeros((4, 2)), y=np.zeros(3)),
        "{t}/a.npz: X has 4 samples but y has 3; they must match",
    ),
    (
        "npz nan",
        _npz(X=np.array([[0.0, 1.0], [np.nan, 2.0]] * 5), y=np.arange(10) % 2),
        "{t}/a.npz: X[1] has a NaN or infinite value at flat index 0; clean the array (a table may keep NaN when data.impute is set)",
    ),
    (
        "npz labels not integers",
        _npz("classification", X=np.zeros((10, 2)), y=np.array([0.0, 1.5] * 5)),
        "{t}/a.npz: y value '1.5' (data row 2) is not an integer class label; use integer labels or set data.task=regression",
    ),
    (
        "csv labels not integers",
        _csv(
            "a,y\n" + "".join(f"{i},{i % 3 + 0.5}\n" for i in range(12)),
            target="y",
            task="classification",
        ),
        "{t}/d.csv: target 'y' value '0.5' (data row 1) is not an integer class label; use integer labels or set data.task=regression",
    ),
    (
        "corrupt gzip",
        _bytes("c-images-idx3-ubyte.gz", b"\x1f\x8b\x08\x00" + bytes(30)),
        "{t}/c-images-idx3-ubyte.gz: truncated or corrupt file (Error -3 while decompressing data: invalid stored block lengths); download or copy it again",
    ),
    (
        "pca above row count",
        _csv(
            "a,b,c,d,e,f,g,h,i,j,y\n"
            + "".join(
                f"{','.join(str((i * k) % 7) for k in range(10))},{i % 2}\n" for i in range(12)
            ),
            target="y",
            pca="9",
        ),
        "data.pca=9: PCA can give at most 8 components here (10 features, 8 training rows); use fewer",
    ),
    (
        "npz empty",
        _npz(X=np.zeros((0, 2)), y=np.zeros(0)),
        "{t}/a.npz: X is empty; save at least one sample",
    ),
    (
        "npz 5d",
        _npz(X=np.zeros((2, 1, 1, 1, 1)), y=np.zeros(2)),
        "{t}/a.npz: X has 5 dimensions; use 2 (table) or 3/4 (images)",
    ),
    (
        "npz corrupt",
        _bytes("a.npz", b"PK\x03\x04 broken zip"),
        "{t}/a.npz: not a readable .npz file (File is not a zip file); re-save it with np.savez",
    ),
    (
        "idx truncated",
        _idx(IMAGES, LABELS, cut=100),
        "{t}/train-images-idx3-ubyte: truncated: the header promises 1920 bytes of data for shape (30, 8, 8), the file has 1820; copy the file again",
    ),
    (
        "idx gz truncated",
        _gz_cut,
        "{t}/t-images-idx3-ubyte.gz: truncated or corrupt file (Compressed file ended before the end-of-stream marker was reached); download or copy it again",
    ),
    (
        "idx bad magic",
        _bytes("x-idx3-ubyte", b"\x12\x34\x08\x03" + bytes(20)),
        "{t}/x-idx3-ubyte: not an IDX file (bad magic number); expected MNIST-format IDX",
    ),
    (
        "idx no labels",
        _idx(IMAGES, None),
        "{t}/train-images-idx3-ubyte: no labels file found next to it; set data.labels to the labels IDX file",
    ),
    (
        "idx label count",
        _idx(IMAGES, LABELS[:20]),
        "{t}/train-labels-idx1-ubyte: 20 labels for 30 images in {t}/train-images-idx3-ubyte; use the labels file that belongs to these images",
    ),
    (
        "idx labels path",
        _labels_named,
        "data.labels='{t}/nope-labels.idx': file not found; give the labels IDX file",
    ),
    (
        "folder without classes",
        _folder(_no_classes),
        "{t}/imgs: no class sub-folders; put each class's images in root/<class>/",
    ),
    (
        "empty class folder",
        _folder(_empty_class),
        "{t}/imgs/class_empty: class folder has no images (.bmp, .gif, .jpeg, .jpg, .png)",
    ),
    (
        "corrupt image",
        _folder(_corrupt_image),
        "{t}/imgs/class_9/bad.png: not a readable image (cannot identify image file '{t}/imgs/class_9/bad.png'); remove or replace it",
    ),
    (
        "mixed sizes",
        _folder(_mixed_sizes),
        "{t}/imgs/class_9/big.png: 12x10 pixels but {t}/imgs/class_0/0001.png is 8x8; set data.resize to give all images one size",
    ),
    (
        "too few rows",
        _csv("a,y\n1,0.5\n2,0.7\n3,0.9\n", target="y"),
        "{t}/d.csv: 3 samples are too few for val_fraction=0.15 and test_fraction=0.2; provide more data",
    ),
    (
        "tiny class",
        _csv("a,y\n" + "".join(f"{i % 7},{int(i == 0)}\n" for i in range(20)), target="y"),
        "{t}/d.csv: class '1' has 1 sample(s); a stratified train/validation/test split needs at least 3 per class — add samples or drop it",
    ),
    (
        "corrupt parquet",
        _bytes("t.parquet", b"this is not a parquet file at all"),
        "{t}/t.parquet: not a readable Parquet file (Parquet magic bytes not found in footer. Either the file is corrupted or this is not a parquet file.)",
    ),
    (
        "bad storage URL",
        lambda t: ["data.source=iris", "tune.storage=not a url"],
        "tune.storage: 'not a url' is not a database URL; use sqlite:///path/study.db or postgresql://user:password@host:5432/dbname",
    ),
    (
        "in-memory storage",
        lambda t: ["data.source=iris", "tune.storage=sqlite://"],
        "tune.storage: 'sqlite://' keeps the study in memory, where it cannot be resumed or shared; give a file: sqlite:///path/study.db",
    ),
    (
        "unsupported database",
        lambda t: ["data.source=iris", "tune.storage=redis://localhost/0"],
        "tune.storage: unsupported database 'redis' in redis://localhost/0; use sqlite or postgresql",
    ),
    (
        "unreachable database",
        lambda t: [
            "data.source=iris",
            "tune.storage=postgresql://bob:pw@127.0.0.1:1/db",
            "tune.study=s",
        ],
        'tune.storage: cannot open postgresql://bob:***@127.0.0.1:1/db: connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused; check that the database is running, reachable and that the URL\'s user, password and database name are right',
    ),
    (
        "shared storage without a study name",
        lambda t: ["data.source=iris", "tune.storage=postgresql://bob:pw@127.0.0.1:1/db"],
        "tune.study: name the study when tune.storage is a shared database (postgresql://bob:***@127.0.0.1:1/db); workers join it by that name (--study NAME)",
    ),
    (
        "existing study, other space",
        _existing_study,
        "tune.study 'shared' in sqlite:///{t}/shared.db already exists with a different search space (differs at train.lr); use a new tune.study name, or the same tune.space as that study",
    ),
    (
        "search bounds reversed",
        lambda t: ["data.source=iris", "tune.space.train.lr={type: float, low: 1, high: 0.1}"],
        "--set: tune.space.train.lr: 'low' (1) must be below 'high' (0.1); got {{'type': 'float', 'low': 1, 'high': 0.1}}",
    ),
    (
        "search bound outside the config range",
        lambda t: ["data.source=iris", "tune.space.train.lr={type: float, low: 0.1, high: 20}"],
        "tune.space.train.lr: the value 20.0 is not valid for train.lr (must be less than or equal to 10); narrow the range",
    ),
    (
        "searched model parameter unknown",
        lambda t: ["data.source=iris", "tune.space.model.params.nope={type: int, low: 1, high: 2}"],
        "tune.space.model.params.nope: the model cannot be built with 1 (model 'mlp': bad model.params {{'nope': 1}} (got an unexpected keyword argument 'nope'); allowed: hidden, dropout, width, depth); narrow the range or remove the key",
    ),
    (
        "tuning metric for the wrong task",
        lambda t: ["data.source=iris", "tune.metric=mse"],
        "tune.metric='mse' does not apply to a multiclass task; use auto",
    ),
    (
        "resize on a table",
        lambda t: ["data.source=iris", "data.resize=28"],
        "data.resize=28: 'iris' is a table, not images; remove data.resize",
    ),
]


@pytest.mark.parametrize(("case", "setup", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, case: str, setup: Setup, expected: str) -> None:
    assert_one_line_error(tmp_path, setup(tmp_path), expected.format(t=tmp_path))


def test_there_are_at_least_30_cases() -> None:
    assert len(CASES) >= 30
