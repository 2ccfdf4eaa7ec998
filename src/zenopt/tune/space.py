"""Search spaces: the default per zoo model, sampling one trial's values, applying them to a
config, and the grid a ``sampler: grid`` study walks."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import ValidationError

from zenopt.core.config import ParamSpec, RunConfig
from zenopt.core.errors import ConfigError

__all__ = [
    "apply_params",
    "check_space",
    "default_space",
    "grid_values",
    "search_space",
    "space_to_dict",
    "suggest",
]


def _spec(**kwargs: Any) -> ParamSpec:
    return ParamSpec(**kwargs)


_TRAIN: dict[str, ParamSpec] = {
    "train.lr": _spec(type="float", low=1e-4, high=3e-2, log=True),
    "train.batch_size": _spec(type="categorical", choices=[32, 64, 128]),
    "train.optimizer": _spec(type="categorical", choices=["adam", "adamw", "sgd"]),
    "train.weight_decay": _spec(type="float", low=1e-6, high=1e-2, log=True),
    "train.l1": _spec(type="float", low=1e-7, high=1e-3, log=True),
}
_DEFAULTS: dict[str, dict[str, ParamSpec]] = {
    "mlp": {
        **_TRAIN,
        "train.epochs": _spec(type="int", low=10, high=60),
        "model.params.width": _spec(type="int", low=16, high=512, log=True),
        "model.params.depth": _spec(type="int", low=1, high=4),
        "model.params.dropout": _spec(type="float", low=0.0, high=0.5),
    },
    "mnist_cnn": {
        **_TRAIN,
        "train.epochs": _spec(type="int", low=4, high=20),
        "model.params.dropout1": _spec(type="float", low=0.0, high=0.5),
        "model.params.dropout2": _spec(type="float", low=0.0, high=0.6),
    },
    "tf_cnn": {
        **_TRAIN,
        "train.epochs": _spec(type="int", low=4, high=20),
        "model.params.dropout": _spec(type="float", low=0.0, high=0.6),
    },
}


def default_space(model_name: str) -> dict[str, ParamSpec]:
    """The zoo model's space; a user's own factory gets the training keys only."""
    return dict(
        _DEFAULTS.get(model_name, {**_TRAIN, "train.epochs": _DEFAULTS["mlp"]["train.epochs"]})
    )


def search_space(config: RunConfig, model_name: str) -> dict[str, ParamSpec]:
    return dict(config.tune.space) or default_space(model_name)


def space_to_dict(space: dict[str, ParamSpec]) -> dict[str, Any]:
    """JSON form, stored on the study so a worker or a resumed run can check it matches."""
    return {key: space[key].to_dict() for key in sorted(space)}


def apply_params(config: RunConfig, params: dict[str, Any]) -> RunConfig:
    """A copy of ``config`` with each ``train.<key>`` / ``model.params.<name>`` value set."""
    raw = config.to_dict()
    for key, value in params.items():
        parts = key.split(".")
        node = raw
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return RunConfig.model_validate(raw)


def check_space(config: RunConfig, space: dict[str, ParamSpec], where: str = "tune.space") -> None:
    """Fail before any trial when a bound cannot be used, naming the key and the accepted range."""
    for key, spec in space.items():
        for value in spec.bounds():
            if key == "train.epochs" and isinstance(value, int | float) and value < 1:
                raise ConfigError(
                    f"{where}.{key}: the value {value!r} trains nothing; start the range at 1"
                )
            try:
                apply_params(config, {key: value})
            except ValidationError as exc:
                reason = exc.errors()[0]["msg"].replace("Input should be", "must be")
                raise ConfigError(
                    f"{where}.{key}: the value {value!r} is not valid for {key} ({reason}); "
                    "narrow the range"
                ) from None


def suggest(trial: Any, space: dict[str, ParamSpec]) -> dict[str, Any]:
    """Ask an Optuna trial for one value per key, in a fixed (sorted) order."""
    values: dict[str, Any] = {}
    for key in sorted(space):
        spec = space[key]
        if spec.type == "categorical":
            values[key] = trial.suggest_categorical(key, spec.choices)
        elif spec.type == "int":
            step = int(spec.step) if spec.step is not None else 1
            values[key] = trial.suggest_int(
                key, int(spec.low or 0), int(spec.high or 0), step=step, log=spec.log
            )
        else:
            values[key] = trial.suggest_float(
                key, float(spec.low or 0.0), float(spec.high or 0.0), step=spec.step, log=spec.log
            )
    return values


def grid_values(spec: ParamSpec, points: int) -> list[Any]:
    """The values ``sampler: grid`` tries: every choice, every step, or ``points`` spread
    evenly (geometrically for a log range) from low to high."""
    if spec.type == "categorical":
        return list(spec.choices or [])
    low, high = float(spec.low or 0.0), float(spec.high or 0.0)
    if spec.step is not None:
        values = np.arange(low, high + spec.step / 2, spec.step)
    elif spec.log:
        values = np.geomspace(low, high, points)
    else:
        values = np.linspace(low, high, points)
    if spec.type == "int":
        return sorted({round(float(v)) for v in values})
    return [float(v) for v in values]
