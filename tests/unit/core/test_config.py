from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from zenopt.core.config import RunConfig, apply_overrides, load_config, parse_override
from zenopt.core.errors import ConfigError


def test_defaults_are_the_digits_mnist_adam_job() -> None:
    config = load_config()
    assert config.data.source == "digits"
    assert config.data.resize == "auto" and config.data.image_side(28) == 28
    assert config.model.name == "auto"
    assert config.train.optimizer == "adam"


def test_example_config_loads_and_matches_documented_job() -> None:
    config = load_config(Path(__file__).parents[3] / "examples" / "digits.yaml")
    assert config.model.name == "mnist_cnn"
    assert config.requirements.min_accuracy == 0.97


def test_yaml_and_toml_give_the_same_config(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("train:\n  lr: 0.05\n  optimizer: sgd\nseed: 3\n")
    (tmp_path / "c.toml").write_text('seed = 3\n[train]\nlr = 0.05\noptimizer = "sgd"\n')
    assert load_config(tmp_path / "c.yaml") == load_config(tmp_path / "c.toml")


def test_set_overrides_the_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("train:\n  lr: 0.05\n")
    config = load_config(tmp_path / "c.yaml", ["train.lr=1e-3", "train.lr=0.2", "seed=7"])
    assert config.train.lr == pytest.approx(0.2)
    assert config.seed == 7


@pytest.mark.parametrize(
    ("item", "path", "value"),
    [
        ("train.lr=1e-3", ["train", "lr"], 1e-3),
        ("train.nesterov=true", ["train", "nesterov"], True),
        ("model.params.hidden=[32, 16]", ["model", "params", "hidden"], [32, 16]),
        ("data.source=file.csv", ["data", "source"], "file.csv"),
        ("requirements.max_mse=null", ["requirements", "max_mse"], None),
    ],
)
def test_parse_override_types(item: str, path: list[str], value: object) -> None:
    assert parse_override(item) == (path, value)


def test_nested_override_reaches_model_params() -> None:
    config = load_config(None, ["model.params.hidden=[8]", "model.params.dropout=0.0"])
    assert config.model.params == {"hidden": [8], "dropout": 0.0}


@pytest.mark.parametrize("item", ["train.lr", "=3", "train..lr=1"])
def test_malformed_override_is_rejected(item: str) -> None:
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override(item)


def test_unknown_key_names_it_and_the_allowed_keys() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.learning_rate=0.1"])
    message = str(info.value)
    assert "'train.learning_rate'" in message and "lr" in message and "optimizer" in message
    assert "\n" not in message


def test_unknown_section_lists_sections() -> None:
    with pytest.raises(ConfigError, match="allowed keys here: version, seed, data, model"):
        load_config(None, ["tuning.trials=3"])


def test_bad_choice_lists_allowed_values() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["train.optimizer=adagrad"])
    assert "train.optimizer" in str(info.value)
    assert "'sgd', 'adam', 'adamw' or 'rmsprop'" in str(info.value)
    assert "'adagrad'" in str(info.value)


def test_out_of_range_value_is_named(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("train:\n  lr: -1\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: train\.lr: must be greater than 0; got -1"):
        load_config(tmp_path / "c.yaml")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(ConfigError, match="unknown config format"):
        load_config(tmp_path / "c.json")
    (tmp_path / "bad.yaml").write_text("train:\n  lr: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(tmp_path / "list.yaml")


def test_apply_overrides_does_not_mutate_input() -> None:
    raw = {"train": {"lr": 0.1}}
    apply_overrides(raw, ["train.lr=0.2"])
    assert raw == {"train": {"lr": 0.1}}


@settings(max_examples=40, deadline=None)
@given(
    lr=st.floats(min_value=1e-6, max_value=1.0, allow_nan=False),
    epochs=st.integers(min_value=1, max_value=500),
    optimizer=st.sampled_from(["sgd", "adam", "adamw", "rmsprop"]),
    patience=st.one_of(st.none(), st.integers(min_value=1, max_value=50)),
    accuracy=st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)),
)
def test_config_round_trips_through_yaml(
    lr: float, epochs: int, optimizer: str, patience: int | None, accuracy: float | None
) -> None:
    config = RunConfig.model_validate(
        {
            "train": {"lr": lr, "epochs": epochs, "optimizer": optimizer, "patience": patience},
            "requirements": {"min_accuracy": accuracy},
        }
    )
    again = RunConfig.model_validate(yaml.safe_load(yaml.safe_dump(config.to_dict())))
    assert again == config


def test_text_fields_keep_the_text_given() -> None:
    config = load_config(None, ["data.target=0", "data.source=yes", "model.name=on"])
    assert (config.data.target, config.data.source, config.model.name) == ("0", "yes", "on")
    assert load_config(None, ["data.target=null"]).data.target is None


def test_unreadable_config_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"seed: 1\n# caf\xe9\n")
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(path)


def test_resize_accepts_auto_null_or_a_side() -> None:
    assert load_config(None, ["data.resize=null"]).data.image_side(28) is None
    assert load_config(None, ["data.resize=16"]).data.image_side(28) == 16
    with pytest.raises(ConfigError, match="data.resize: must be between 4 and 512"):
        load_config(None, ["data.resize=2"])
