"""Which columns are features: data.drop, data.group, explicit data.categorical, and columns
that look like identifiers, which stop the run unless data.keep_ids says otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zenopt.core.config import DataConfig, load_config
from zenopt.core.errors import ConfigError, DataError
from zenopt.data import BUNDLED, load_dataset
from zenopt.data.columns import identifier_reason

EXAMPLES = Path(__file__).parents[3] / "examples"


def _clinic(path: Path, rows: int = 60) -> Path:
    rng = np.random.default_rng(0)
    lines = ["record,patient_id,clinic,age,note,outcome"]
    for i in range(rows):
        clinic = ["north", "south"][i % 2]
        note = "x" if i == 3 else f"{rng.normal():.3f}"  # one text cell: junk if parsed
        lines.append(f"{1000 + i},P{i // 3:03d},{clinic},{20 + i % 7},{note},{i % 2}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("name", "values", "flagged"),
    [
        ("patient_id", np.array([1.0, 1.0, 2.0]), True),  # integers, named like an id
        ("PatientID", np.array([5.0, 9.0]), True),
        ("recordId", np.array([5.0, 9.0]), True),
        ("ID", np.array([5.0, 9.0]), True),
        ("uuid", np.array(["a", "a"], dtype=object), True),  # text named like one
        ("paid", np.array([5.0, 9.0]), False),  # ends in "id", but not an id name
        ("valid", np.array([0.0, 1.0]), False),
        ("", np.array([0.0, 2.0, 3.0]), True),  # pandas' index, saved without index=False
        ("Unnamed: 0", np.array([0.0, 2.0, 3.0]), True),
        ("rank", np.arange(12, dtype=float)[::-1], True),  # consecutive, one per row
        ("rank", np.arange(9, dtype=float), False),  # too few to tell from a feature
        ("rank", np.arange(0, 24, 2, dtype=float), False),  # not consecutive
        ("score", np.arange(12, dtype=float) + 0.5, False),  # not integers
        ("city", np.array([f"c{i}" for i in range(10)], dtype=object), True),  # 100% distinct
        ("city", np.array([f"c{i}" for i in range(9)] + ["c0"], dtype=object), True),  # 90%
        ("city", np.array([f"c{i}" for i in range(8)] + ["c0"] * 2, dtype=object), False),
    ],
)
def test_identifier_rule(name: str, values: np.ndarray, flagged: bool) -> None:
    assert (identifier_reason(name, values) is not None) is flagged


def test_an_identifier_column_stops_the_run_naming_both_fixes(tmp_path: Path) -> None:
    path = _clinic(tmp_path / "c.csv")
    config = DataConfig(source=str(path), target="outcome", drop=["note"])
    with pytest.raises(DataError) as info:
        load_dataset(config)
    message = str(info.value)
    assert "column 'record' looks like an identifier (consecutive integers 1000…1059" in message
    assert "data.drop=[record]" in message and "data.keep_ids=true" in message
    config.drop.append("record")
    with pytest.raises(DataError, match="'patient_id' looks like an identifier"):
        load_dataset(config)
    # keep_ids: used anyway, the text id one-hot encoded as before this rule
    kept = load_dataset(config.model_copy(update={"keep_ids": True}))
    assert set(kept.categorical) == {"patient_id", "clinic"}


def test_drop_removes_columns_before_they_are_read(tmp_path: Path) -> None:
    path = _clinic(tmp_path / "c.csv")
    with pytest.raises(DataError, match="line 5, column 'note': 'x' is not a number"):
        load_dataset(DataConfig(source=str(path), target="outcome", drop=["record", "patient_id"]))
    ds = load_dataset(
        DataConfig(source=str(path), target="outcome", drop=["record", "patient_id", "note"])
    )
    assert ds.feature_names == ["age"] and list(ds.categorical) == ["clinic"]
    assert ds.groups is None


def test_group_column_is_set_aside_not_a_feature(tmp_path: Path) -> None:
    path = _clinic(tmp_path / "c.csv")
    config = DataConfig(
        source=str(path), target="outcome", drop=["record", "note"], group="patient_id"
    )
    ds = load_dataset(config)
    assert "patient_id" not in ds.feature_names + list(ds.categorical)
    assert ds.groups is not None and list(ds.groups[:4]) == ["P000", "P000", "P000", "P001"]


def test_explicit_categorical_means_exactly_those(tmp_path: Path) -> None:
    path = _clinic(tmp_path / "c.csv")
    base = {"source": str(path), "target": "outcome", "drop": ["record", "note"]}
    with pytest.raises(DataError, match="column 'patient_id': 'P000' is not a number"):
        load_dataset(DataConfig(**base, categorical=["clinic"], keep_ids=True))
    ds = load_dataset(DataConfig(**base, categorical=["clinic", "age"], group="patient_id"))
    assert list(ds.categorical) == ["clinic", "age"] and ds.feature_names == []


@pytest.mark.parametrize(
    ("sets", "error", "message"),
    [
        ({"drop": ["nope"]}, ConfigError, "data.drop: 'nope' is not a column of"),
        ({"drop": ["outcome"]}, ConfigError, "data.drop: 'outcome' is the target"),
        ({"group": "outcome"}, ConfigError, "data.group: 'outcome' is the target"),
        ({"group": "nope"}, ConfigError, "data.group: 'nope' is not a column of"),
        ({"categorical": ["record"]}, DataError, "column 'record' is not a feature column"),
    ],
)
def test_column_options_name_the_column(
    tmp_path: Path, sets: dict[str, object], error: type[Exception], message: str
) -> None:
    path = _clinic(tmp_path / "c.csv")
    config = DataConfig(source=str(path), target="outcome", **{"drop": ["record", "note"], **sets})
    with pytest.raises(error, match=message):
        load_dataset(config)


def test_drop_and_group_on_a_bundled_table_and_images() -> None:
    ds = load_dataset(DataConfig(source="wine", drop=["alcohol"], group="magnesium"))
    assert "alcohol" not in ds.feature_names and "magnesium" not in ds.feature_names
    assert ds.X.shape[1] == 11 and ds.groups is not None and len(ds.groups) == len(ds.y)
    with pytest.raises(ConfigError, match="'digits' is images, not a table; remove data.group"):
        load_dataset(DataConfig(source="digits", group="x"))


@pytest.mark.parametrize("source", sorted(BUNDLED))
def test_no_bundled_data_set_trips_the_identifier_rule(source: str) -> None:
    load_dataset(DataConfig(source=source))


def test_no_example_config_trips_the_identifier_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from zenopt.flow.data import prepare_data

    spec = importlib.util.spec_from_file_location("mk", EXAMPLES / "make_example_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "examples" / "data")
    monkeypatch.chdir(tmp_path)
    configs = sorted(EXAMPLES.glob("*.yaml"))
    assert len(configs) >= 8
    for path in configs:  # the whole data stage: given files, split, per-class targets
        prepare_data(load_config(path))
