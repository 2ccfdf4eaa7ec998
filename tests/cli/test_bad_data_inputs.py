"""Bad inputs of real-world tables and given files (data.drop, data.group, data.keep_ids,
data.test_source/val_source, per-class targets): one exact line, exit 2, no run folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.bad_input import assert_one_line_error
from tests.datafiles import digit_images, write_idx

Setup = Callable[[Path], list[str]]

ROWS = "".join(f"{i % 7},{(i * 37) % 11},P{i // 2},{'ab'[i % 2]},{i % 2}\n" for i in range(40))
HEADER = "age,score,patient,clinic,y\n"


def _files(*files: tuple[str, str], **sets: str) -> Setup:
    """Write ``(name, text)`` files; the first is data.source, ``target`` is y."""

    def setup(tmp: Path) -> list[str]:
        for name, text in files:
            (tmp / name).write_text(text)
        out = [f"data.source={tmp / files[0][0]}", "data.target=y"]
        return out + [f"{k.replace('__', '.')}={v.format(t=tmp)}" for k, v in sets.items()]

    return setup


def _idx_pair(tmp: Path) -> list[str]:
    images, labels = digit_images(200)
    write_idx(tmp / "train-images-idx3-ubyte", images[:150])
    write_idx(tmp / "train-labels-idx1-ubyte", labels[:150])
    write_idx(tmp / "t10k-images-idx3-ubyte", images[150:, :6, :6])
    write_idx(tmp / "t10k-labels-idx1-ubyte", labels[150:])
    return [f"data.source={tmp / 'train-images-idx3-ubyte'}", "data.test_source=auto"]


TRAIN = ("d.csv", HEADER + ROWS)
CASES: list[tuple[str, Setup, str]] = [
    (
        "row number column",
        _files(
            (
                "d.csv",
                "n," + HEADER + "".join(f"{i},{r}" for i, r in enumerate(ROWS.splitlines(True))),
            )
        ),
        "{t}/d.csv: column 'n' looks like an identifier (consecutive integers 0…39, one per row, 40 rows), so it would not generalise; drop it with data.drop=[n], or set data.keep_ids=true to use it anyway",
    ),
    (
        "distinct text column",
        _files(("d.csv", HEADER + "".join(f"{i % 7},{i % 5},N{i},a,{i % 2}\n" for i in range(40)))),
        "{t}/d.csv: column 'patient' looks like an identifier (text with a distinct value on 100% of rows, 40 rows), so it would not generalise; drop it with data.drop=[patient], or set data.keep_ids=true to use it anyway",
    ),
    (
        "drop unknown column",
        _files(TRAIN, data__drop="[nope]"),
        "data.drop: 'nope' is not a column of {t}/d.csv; columns: age, score, patient, clinic",
    ),
    (
        "group is the target",
        _files(TRAIN, data__group="y"),
        "data.group: 'y' is the target; name another column",
    ),
    (
        "group on images",
        lambda t: ["data.source=digits", "data.group=x"],
        "data.group: 'digits' is images, not a table; remove data.group",
    ),
    (
        "group cell empty",
        _files(("d.csv", HEADER + ROWS.replace(",P3,", ",,")), data__group="patient"),
        "{t}/d.csv: line 8, column 'patient': empty, but it is data.group; fill it (every row needs its group) or drop the row",
    ),
    (
        "one group",
        _files(
            (
                "d.csv",
                HEADER + "".join(f"{i % 7},{i % 5},P,{'ab'[i % 2]},{i % 2}\n" for i in range(40)),
            ),
            data__group="patient",
        ),
        "data.group: 1 group(s) in the 40 rows being split; a grouped split puts whole groups on each side, so it needs more groups — use a column with more",
    ),
    (
        "text column left out of an explicit categorical",
        _files(TRAIN, data__group="patient", data__categorical="[age]"),
        "{t}/d.csv: line 2, column 'clinic': 'a' is not a number; fix it, list the column in data.categorical, or data.drop it",
    ),
    (
        "test file missing",
        _files(TRAIN, data__group="patient", data__test_source="{t}/no.csv"),
        "data.test_source='{t}/no.csv': no such file or folder; give the path of the file",
    ),
    (
        "auto on a table",
        _files(TRAIN, data__group="patient", data__test_source="auto"),
        "data.test_source=auto finds the t10k pair of IDX training files (train-images-idx3-ubyte[.gz] → t10k-images-idx3-ubyte[.gz]); data.source='{t}/d.csv' is not one: give the file's path",
    ),
    (
        "test file without a column",
        _files(
            TRAIN,
            ("t.csv", "age,patient,clinic,y\n1,Q1,a,0\n2,Q2,b,1\n"),
            data__group="patient",
            data__test_source="{t}/t.csv",
        ),
        "data.test_source: {t}/t.csv has no column 'score'; it needs the training file's columns: age, score, clinic, y, patient",
    ),
    (
        "test file with an unknown class",
        _files(
            TRAIN,
            ("t.csv", HEADER + "1,2,Q1,a,0\n2,3,Q2,b,7\n"),
            data__group="patient",
            data__test_source="{t}/t.csv",
        ),
        "data.test_source: class '7' of {t}/t.csv is not in the training data (classes: 0, 1); fix the labels or add training examples",
    ),
    (
        "test images of another size",
        _idx_pair,
        "data.test_source: images of {t}/t10k-images-idx3-ubyte are 1×6×6, the training images 1×8×8; set data.resize to one side for both",
    ),
    (
        "test source with a bundled source",
        lambda t: ["data.source=iris", f"data.test_source={t}"],
        "data.test_source: data.source='iris' is bundled and split by zenopt; a given file goes with a data.source file of the same format",
    ),
    (
        "per-class target for an unknown class",
        lambda t: ["data.source=breast_cancer", "requirements.min_class_recall={cancer: 0.9}"],
        "requirements.min_class_recall: 'cancer' is not a class of this data; classes: malignant, benign",
    ),
    (
        "per-class target on regression",
        lambda t: ["data.source=diabetes", "requirements.min_class_recall={1: 0.9}"],
        "requirements.min_class_recall is a classification target; remove it",
    ),
    (
        "per-class target above 1",
        lambda t: ["data.source=iris", "requirements.min_class_precision={1: 1.5}"],
        "--set: requirements.min_class_precision: class '1': 1.5 is not between 0 and 1; got {{1: 1.5}}",
    ),
]


def test_there_are_at_least_15_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize(("case", "setup", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_data_input(tmp_path: Path, case: str, setup: Setup, expected: str) -> None:
    assert_one_line_error(tmp_path, setup(tmp_path), expected.format(t=tmp_path))
