"""Grouped splits (no group on two sides of any split, the fine-tuning holdout included),
given validation/test files (CSV and IDX), and duplicates that straddle splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.datafiles import digit_images, write_idx

from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError, DataError
from zenopt.data.split import carve_holdout
from zenopt.flow.data import prepare_data


def _visits(path: Path, patients: int, seed: int, prefix: str = "P") -> Path:
    """Patients with 1–6 visits each, a rare outcome that is the patient's own."""
    rng = np.random.default_rng(seed)
    lines = ["patient,clinic,a,b,outcome"]
    for p in range(patients):
        risk, clinic = rng.normal(), ["north", "south", "east"][p % 3]
        for _ in range(int(rng.integers(1, 7))):
            outcome = "relapse" if risk > 1.0 else "stable"
            lines.append(
                f"{prefix}{p},{clinic},{risk + rng.normal():.4f},{rng.normal():.4f},{outcome}"
            )
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(seed: int = 0, **data: object) -> RunConfig:
    return RunConfig.model_validate({"seed": seed, "data": {"target": "outcome", **data}})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_group_sits_on_two_sides_of_any_split(tmp_path: Path, seed: int) -> None:
    path = _visits(tmp_path / "v.csv", 150, seed)
    stage = prepare_data(_config(source=str(path), group="patient", seed=seed))
    splits = stage.prepared.splits
    sides = [set(part.groups.tolist()) for part in (splits.train, splits.val, splits.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert sum(len(s) for s in sides) == 150  # every patient somewhere
    sizes = splits.sizes()
    n = sum(sizes.values())
    assert abs(sizes["test"] - 0.2 * n) < 0.06 * n and abs(sizes["val"] - 0.15 * n) < 0.06 * n
    # stratified where possible: the rare class in every split, near its overall share
    share = np.mean(stage.dataset.y == stage.dataset.class_names.index("relapse"))
    for part in (splits.train, splits.val, splits.test):
        rare = np.mean(part.y == stage.dataset.class_names.index("relapse"))
        assert rare > 0 and abs(rare - share) < 0.1
    # the fine-tuning holdout carved from the training split keeps groups whole, too
    train = splits.train
    (X_fit, _), (X_stop, _) = carve_holdout(train.X, train.y, 0.2, seed, True, train.groups)
    row_group = {tuple(x): g for x, g in zip(train.X.tolist(), train.groups, strict=True)}
    fit_groups = {row_group[tuple(x)] for x in X_fit.tolist()}
    stop_groups = {row_group[tuple(x)] for x in X_stop.tolist()}
    assert fit_groups and stop_groups and not fit_groups & stop_groups


def test_grouped_regression_split(tmp_path: Path) -> None:
    path = _visits(tmp_path / "v.csv", 80, 0)
    text = path.read_text().replace("relapse", "1.5").replace("stable", "0.25")
    path.write_text(text)
    splits = prepare_data(_config(source=str(path), group="patient")).prepared.splits
    train, test = set(splits.train.groups.tolist()), set(splits.test.groups.tolist())
    assert train and test and not train & test


def test_random_split_counts_duplicates_across_splits_as_a_reference_does(tmp_path: Path) -> None:
    path = _visits(tmp_path / "v.csv", 60, 3)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + lines[1:40]) + "\n")  # 39 rows twice
    stage = prepare_data(_config(source=str(path)))
    splits = stage.prepared.splits
    rows = [tuple(r) for r in np.asarray(lines[1:] + lines[1:40])]
    train = {rows[i] for i in splits.train.indices}
    expected = {
        "val": sum(rows[i] in train for i in splits.val.indices),
        "test": sum(rows[i] in train for i in splits.test.indices),
    }
    assert stage.straddling == expected and sum(expected.values()) > 0
    assert any("repeat a training row exactly" in w for w in stage.warnings)
    clean = prepare_data(_config(source=str(path), drop_duplicates=True))
    assert clean.straddling == {"val": 0, "test": 0} and not clean.warnings


def test_given_test_csv_is_the_test_split_whole(tmp_path: Path) -> None:
    train = _visits(tmp_path / "train.csv", 80, 0)
    test = _visits(tmp_path / "test.csv", 30, 1, prefix="Q")
    # the test file's columns in another order
    lines = [",".join(reversed(line.split(","))) for line in test.read_text().splitlines()]
    test.write_text("\n".join(lines) + "\n")
    stage = prepare_data(_config(source=str(train), test_source=str(test), group="patient"))
    splits, ds = stage.prepared.splits, stage.dataset
    n_test = len(lines) - 1
    assert len(splits.test) == n_test and splits.test.indices.min() == len(ds.y) - n_test
    assert set(splits.test.groups.tolist()) == {f"Q{p}" for p in range(30)}
    # the same values as the file, columns in the training file's order
    first = lines[1].split(",")  # outcome,b,a,clinic,patient
    row = splits.test.X[0]
    assert row[ds.feature_names.index("a")] == pytest.approx(float(first[2]))
    assert ds.class_names[int(splits.test.y[0])] == first[0]
    # validation carved from the training file only; preprocessing fitted on training rows
    assert splits.val.indices.max() < len(ds.y) - n_test
    scale = stage.prepared.transform
    centred = scale.apply(splits.train.X)[:, : len(ds.feature_names)]
    assert np.allclose(centred.mean(axis=0), 0.0, atol=1e-5)


def test_given_validation_file_is_the_selection_split(tmp_path: Path) -> None:
    train = _visits(tmp_path / "train.csv", 80, 0)
    val = _visits(tmp_path / "val.csv", 20, 2, prefix="V")
    stage = prepare_data(_config(source=str(train), val_source=str(val)))
    n_val = len(val.read_text().splitlines()) - 1
    assert len(stage.prepared.splits.val) == n_val
    held = stage.without_test()
    assert len(held.prepared.splits.val) == n_val


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (
            lambda t: t.replace("patient,clinic,a,b", "patient,clinic,a,c"),
            DataError,
            "has no column 'b'",
        ),
        (
            lambda t: (
                t.replace(",outcome\n", ",outcome,x\n")
                .replace("\n", ",1\n")
                .replace(",outcome,x,1", ",outcome,x")
            ),
            DataError,
            "has a column 'x' that the training data has not",
        ),
        (lambda t: t.replace("stable", "cured", 1), DataError, "class 'cured' of"),
        (lambda t: t.replace("0.", "zero", 1), DataError, "column 'a': 'zero"),
    ],
    ids=["missing column", "extra column", "unknown class", "text in a number column"],
)
def test_given_test_file_is_checked_against_the_training_file(
    tmp_path: Path, edit: object, error: type[Exception], message: str
) -> None:
    train = _visits(tmp_path / "train.csv", 40, 0)
    test = _visits(tmp_path / "test.csv", 10, 1)
    test.write_text(edit(test.read_text()))  # type: ignore[operator]
    with pytest.raises(error, match=message):
        prepare_data(_config(source=str(train), test_source=str(test)))


def test_given_test_file_warnings(tmp_path: Path) -> None:
    train = _visits(tmp_path / "train.csv", 40, 0)
    test = _visits(tmp_path / "test.csv", 20, 1)  # the same patient names P0..P19
    test.write_text(test.read_text().replace("north", "west"))
    stage = prepare_data(_config(source=str(train), test_source=str(test), group="patient"))
    text = "\n".join(stage.warnings)
    assert "20 'patient' value(s) of" in text and "are in the training data too" in text
    assert "column 'clinic' has 1 value(s) the training data has not (e.g. 'west'" in text


def test_idx_t10k_pair_is_found_with_auto(tmp_path: Path) -> None:
    images, labels = digit_images(240)
    write_idx(tmp_path / "train-images-idx3-ubyte", images[:200])
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:200])
    source = str(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte not found next to"):
        prepare_data(_config(source=source, target=None, test_source="auto"))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images[200:])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[200:])
    stage = prepare_data(_config(source=source, target=None, test_source="auto"))
    test = stage.prepared.splits.test
    assert len(test) == 40
    truth = [str(v) for v in labels[200:]]
    assert [stage.dataset.class_names[i] for i in test.y] == truth
    small = digit_images(40)[0][:, :6, :6]
    write_idx(tmp_path / "t10k-images-idx3-ubyte", small)
    with pytest.raises(DataError, match="are 1×6×6, the training images 1×8×8; set data.resize"):
        prepare_data(_config(source=source, target=None, test_source="auto"))


def test_auto_needs_an_idx_source(tmp_path: Path) -> None:
    train = _visits(tmp_path / "train.csv", 40, 0)
    with pytest.raises(ConfigError, match="data.test_source=auto finds the t10k pair"):
        prepare_data(_config(source=str(train), test_source="auto"))


def test_a_group_holding_most_rows_makes_uneven_splits_and_says_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["site,a,b,outcome"]
    for i in range(400):  # 340 rows from one site, 60 from 12 small ones
        site = "big" if i < 340 else f"s{i % 12}"
        lines.append(f"{site},{rng.normal():.4f},{rng.normal():.4f},{'ab'[i % 2]}")
    path = tmp_path / "sites.csv"
    path.write_text("\n".join(lines) + "\n")
    stage = prepare_data(_config(source=str(path), group="site"))
    sizes = stage.prepared.splits.sizes()
    uneven = [w for w in stage.warnings if "because whole groups were kept together" in w]
    assert sizes["test"] < 0.1 * 400 and uneven  # 20% asked
    assert f"the test split has {sizes['test']} rows" in " ".join(uneven)
    even = prepare_data(_config(source=str(_visits(tmp_path / "v.csv", 150, 0)), group="patient"))
    assert not [w for w in even.warnings if "whole groups" in w]
