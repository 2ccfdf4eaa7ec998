"""Search spaces: validation of ranges, the default spaces, grids and applying values."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from zenopt.core.config import ParamSpec, RunConfig, load_config
from zenopt.core.errors import ConfigError
from zenopt.tune.space import (
    apply_params,
    check_space,
    default_space,
    grid_values,
    space_to_dict,
    suggest,
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "float", "low": 1.0, "high": 0.1}, "'low' (1) must be below 'high' (0.1)"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "needs 'low' > 0, got 0"),
        ({"type": "float", "low": 0.1}, "needs both 'low' and 'high'"),
        ({"type": "int", "low": 1.5, "high": 4}, "whole-number 'low' and 'high'"),
        ({"type": "categorical", "choices": []}, "non-empty 'choices' list"),
        ({"type": "categorical", "choices": [1, 1]}, "must not repeat a value"),
        ({"type": "float", "low": 0.0, "high": 1.0, "step": 2.0}, "is wider than the range"),
        ({"type": "float", "low": 1e-3, "high": 1.0, "log": True, "step": 0.1}, "cannot be"),
    ],
)
def test_invalid_ranges_are_rejected_with_the_key(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [f"tune.space.train.lr={spec}"])
    text = str(info.value)
    assert text.startswith("--set: tune.space.train.lr: ")
    assert message in text
    assert "\n" not in text


def test_unsearchable_keys_are_rejected() -> None:
    with pytest.raises(ConfigError, match="key 'data.scale' is not searchable"):
        load_config(None, ["tune.space.data.scale={type: categorical, choices: [none]}"])


def test_a_bound_outside_the_config_range_names_the_accepted_range() -> None:
    config = RunConfig()
    space = {"train.lr": ParamSpec(type="float", low=0.1, high=20.0, log=True)}
    with pytest.raises(ConfigError) as info:
        check_space(config, space)
    assert str(info.value).startswith("tune.space.train.lr: the value 20.0 is not valid")
    assert "less than or equal to 10" in str(info.value)


@pytest.mark.parametrize("model", ["mlp", "mnist_cnn", "tf_cnn", "pkg.module:factory"])
def test_default_spaces_fit_the_config(model: str) -> None:
    space = default_space(model)
    check_space(RunConfig(), space)  # every bound is a valid config value
    assert {"train.lr", "train.batch_size", "train.optimizer", "train.epochs"} <= set(space)
    assert space["train.lr"].log
    if model == "mlp":
        assert {"model.params.width", "model.params.depth", "model.params.dropout"} <= set(space)


def test_apply_params_sets_train_and_model_values_and_keeps_the_rest() -> None:
    config = load_config(None, ["model.params={dropout: 0.2}", "train.epochs=7"])
    tuned = apply_params(config, {"train.lr": 0.05, "model.params.width": 64})
    assert tuned.train.lr == 0.05
    assert tuned.model.params == {"dropout": 0.2, "width": 64}
    assert tuned.train.epochs == 7
    assert config.train.lr != 0.05  # the original is untouched


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ParamSpec(type="float", low=1e-4, high=1e-2, log=True), np.geomspace(1e-4, 1e-2, 3)),
        (ParamSpec(type="float", low=0.0, high=0.5), np.linspace(0.0, 0.5, 3)),
        (ParamSpec(type="int", low=1, high=4), [1, 2, 4]),  # linspace 1, 2.5, 4 rounded
        (ParamSpec(type="int", low=16, high=64, step=16), [16, 32, 48, 64]),
        (ParamSpec(type="categorical", choices=["adam", "sgd"]), ["adam", "sgd"]),
    ],
)
def test_grid_values(spec: ParamSpec, expected: list[object]) -> None:
    values = grid_values(spec, 3)
    if spec.type == "float":
        np.testing.assert_allclose(values, expected)
    else:
        assert values == list(expected)


def test_suggest_draws_inside_every_range_and_in_sorted_key_order() -> None:
    space = default_space("mlp")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = suggest(trial, space)
        assert list(values) == sorted(space)
        for key, value in values.items():
            spec = space[key]
            if spec.type == "categorical":
                assert value in (spec.choices or [])
            else:
                assert (spec.low or 0) <= value <= (spec.high or 0)
                assert isinstance(value, int) == (spec.type == "int")
        study.tell(trial, 0.0)


def test_space_to_dict_round_trips() -> None:
    space = default_space("mnist_cnn")
    again = {k: ParamSpec.model_validate(v) for k, v in space_to_dict(space).items()}
    assert again == space
