"""The ``tune:`` section: the quality loop's Optuna study (space, sampler, pruner, budget, storage).

Kept apart from ``config.py`` so each file stays readable; ``RunConfig`` imports it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ParamSpec", "TuneConfig"]

Choice = bool | int | float | str | None


class ParamSpec(BaseModel):
    """One searched hyperparameter: a float or int range (optionally log-scaled) or choices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float", "int", "categorical"] = Field(
        description="float or int: a range from low to high; categorical: a list of choices"
    )
    low: float | None = Field(None, description="lowest value of a float/int range")
    high: float | None = Field(None, description="highest value of a float/int range (included)")
    log: bool = Field(
        False, description="sample a float/int range on a log scale (needs low > 0, no step)"
    )
    step: float | None = Field(
        None,
        gt=0.0,
        description="spacing of a float/int range's values; null = continuous (int: 1); "
        "sampler: grid tries every step",
    )
    choices: list[Choice] | None = Field(
        None, description="the values of a categorical parameter, none repeated"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("a categorical parameter takes 'choices' only, not low/high/log")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError("'choices' must not repeat a value")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low/high, not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs both 'low' and 'high'")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("'low' and 'high' must be finite numbers")
        if self.low >= self.high:
            raise ValueError(f"'low' ({self.low:g}) must be below 'high' ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scaled range needs 'low' > 0, got {self.low:g}")
        if self.log and self.step is not None:
            raise ValueError("'step' and 'log' cannot be combined (Optuna rejects it)")
        if self.type == "int":
            if self.low != int(self.low) or self.high != int(self.high):
                raise ValueError("an int parameter needs whole-number 'low' and 'high'")
            if self.step is not None and self.step != int(self.step):
                raise ValueError("an int parameter needs a whole-number 'step'")
        if self.step is not None and self.step > self.high - self.low:
            raise ValueError(f"'step' ({self.step:g}) is wider than the range")
        return self

    def bounds(self) -> list[Any]:
        """The extreme values a trial can take (checked against the config before searching)."""
        if self.type == "categorical":
            return list(self.choices or [])
        low, high = float(self.low or 0.0), float(self.high or 0.0)
        return [int(low), int(high)] if self.type == "int" else [low, high]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
            "type": self.type
        }


class TuneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    when: Literal["missed", "always", "never"] = Field(
        "missed",
        description="missed: search when the baseline misses a quality target on validation; "
        "always; never",
    )
    trials: int = Field(
        30, ge=1, description="the trial budget, across restarts (--resume) and all workers"
    )
    timeout_min: float | None = Field(
        15.0, gt=0.0, description="minutes per process, checked between trials; null = no limit"
    )
    sampler: Literal["tpe", "random", "grid", "cmaes", "nsga2"] = Field(
        "tpe", description="Optuna's sampler of the trials' values"
    )
    pruner: Literal["median", "successive_halving", "none"] = Field(
        "median", description="Optuna's pruner, which stops unpromising trials early"
    )
    startup_trials: int = Field(
        5, ge=0, description="trials before TPE models the space and the median pruner prunes"
    )
    warmup_epochs: int = Field(
        2, ge=0, description="epochs every trial runs before it can be pruned"
    )
    grid_points: int = Field(
        3,
        ge=2,
        description="values per float/int range for sampler: grid (log-spaced if log; a range "
        "with a step takes every step)",
    )
    metric: Literal[
        "auto", "accuracy", "f1_macro", "precision_macro", "recall_macro", "mse", "mae", "r2"
    ] = Field(
        "auto",
        description="the validation metric optimised; auto: the first quality target set, else "
        "accuracy (mse for regression)",
    )
    storage: str | None = Field(
        None, description="Optuna storage URL; null = sqlite:///<run>/study.db"
    )
    study: str | None = Field(None, description="study name; null = zenopt-<run folder name>")
    artifacts: str | None = Field(
        None, description="folder for the trials' models; null = <run>/trials"
    )
    heartbeat_s: int = Field(
        10, ge=1, description="a running trial's heartbeat period (shared storages)"
    )
    grace_s: int = Field(
        30,
        ge=1,
        description="silence after which a trial counts as failed (its worker died); must "
        "exceed heartbeat_s",
    )
    retries: int = Field(1, ge=0, description="re-runs of a trial whose worker died")
    threads: int | None = Field(
        None, ge=1, description="training threads per process; null = this host's cores / processes"
    )
    space: dict[str, ParamSpec] = Field(
        default_factory=dict,
        description="searched keys (train.<key>, model.params.<name>), each with its range or "
        "choices; empty = the model's default space",
    )

    @field_validator("space")
    @classmethod
    def _keys(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for key in value:
            parts = key.split(".")
            train_key = len(parts) == 2 and parts[0] == "train"
            model_key = len(parts) == 3 and parts[:2] == ["model", "params"]
            if not (train_key or model_key) or not all(parts):
                raise ValueError(
                    f"key {key!r} is not searchable; use train.<key> or model.params.<name>"
                )
        return value

    @model_validator(mode="after")
    def _grace(self) -> TuneConfig:
        if self.grace_s <= self.heartbeat_s:
            raise ValueError(
                f"grace_s ({self.grace_s}) must exceed heartbeat_s ({self.heartbeat_s}), or live "
                "workers would be taken for dead"
            )
        return self
