"""The ``compress.search:`` section: the efficiency loop's search over compression plans.

When the exported baseline misses an efficiency requirement, an Optuna study samples plans from
this space (pruning, distillation, quantization, precision, runtime, threads), measures every
candidate in its runtime and keeps the Pareto front of quality, latency and size.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SearchConfig", "SearchSpace"]


T = TypeVar("T")


def _distinct(value: list[T]) -> list[T]:
    if len(set(map(repr, value))) != len(value):
        raise ValueError("must not repeat a value")
    return value


class SearchSpace(BaseModel):
    """The choices a plan is drawn from; each list holds the values the search may pick."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prune_ratio: list[float] = Field(
        default=[0.0, 0.4, 0.5, 0.6, 0.7],
        min_length=1,
        description="fraction of channels removed; 0 = no pruning",
    )
    importance: list[Literal["l1", "l2", "taylor"]] = Field(
        default=["taylor", "l1"],
        min_length=1,
        description="channel importance criteria of pruned plans",
    )
    distill: list[bool] = Field(
        default=[True, False],
        min_length=1,
        description="whether a plan distills after pruning (only pruned plans do)",
    )
    temperature: list[float] = Field(
        default=[2.0, 4.0], min_length=1, description="distillation temperatures"
    )
    distill_epochs: list[int] = Field(
        default=[10, 20], min_length=1, description="distillation epochs"
    )
    quantize: list[Literal["none", "static", "dynamic"]] = Field(
        default=["none", "static", "dynamic"],
        min_length=1,
        description="INT8 modes with ONNX Runtime; none: the plan is not quantized",
    )
    calibration: list[Literal["minmax", "entropy", "percentile"]] = Field(
        default=["minmax", "percentile"],
        min_length=1,
        description="activation calibration methods of static INT8 plans",
    )
    per_channel: list[bool] = Field(
        default=[False, True],
        min_length=1,
        description="per-channel weight quantization or not, for INT8 plans",
    )
    keep_float: list[Literal["auto", "none"]] = Field(
        default=["auto", "none"],
        min_length=1,
        description="static INT8 plans; auto: the image conv stays float; none: every operator "
        "quantized",
    )
    precision: list[Literal["none", "fp16", "bf16"]] = Field(
        default=["none", "fp16"],
        min_length=1,
        description="tried on unquantized plans; bf16 only where the CPU has AVX-512 BF16",
    )
    runtime: list[Literal["onnxruntime", "torch", "torch_compile"]] = Field(
        default=["onnxruntime", "torch"],
        min_length=1,
        description="runtimes of unquantized fp32 plans (INT8 and fp16 plans run in "
        "onnxruntime, bf16 ones in torch)",
    )
    graph_optimization: list[Literal["all", "extended", "basic", "none"]] = Field(
        default=["all"],
        min_length=1,
        description="ONNX Runtime's graph optimisation levels tried for plans deployed in it; "
        "when unset, onnx:PATH and keras:PATH models try all and extended",
    )
    threads: list[int | None] = Field(
        default=[None, 1],
        min_length=1,
        description="inference threads; null = all physical cores",
    )

    @field_validator("prune_ratio")
    @classmethod
    def _ratios(cls, value: list[float]) -> list[float]:
        if any(not 0.0 <= r < 1.0 for r in value):
            raise ValueError("every ratio must be in [0, 1): 0 means no pruning")
        return sorted(_distinct(value))

    @field_validator("temperature")
    @classmethod
    def _temperatures(cls, value: list[float]) -> list[float]:
        if any(t <= 0 for t in value):
            raise ValueError("every temperature must be > 0")
        return _distinct(value)

    @field_validator("distill_epochs")
    @classmethod
    def _epochs(cls, value: list[int]) -> list[int]:
        if any(e < 1 for e in value):
            raise ValueError("every epoch count must be >= 1")
        return _distinct(value)

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: list[int | None]) -> list[int | None]:
        if any(t is not None and t < 1 for t in value):
            raise ValueError("every thread count must be >= 1 (or null for all cores)")
        return _distinct(value)

    @field_validator(
        "importance",
        "distill",
        "quantize",
        "calibration",
        "per_channel",
        "keep_float",
        "precision",
        "runtime",
        "graph_optimization",
    )
    @classmethod
    def _unique(cls, value: list[object]) -> list[object]:
        return _distinct(value)


class SearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    when: Literal["missed", "always", "never"] = Field(
        "missed",
        description="missed: search when the baseline misses an efficiency target; always; never",
    )
    objective: Literal["latency", "throughput", "size"] = Field(
        "latency", description="what the chosen feasible plan is best at"
    )
    stop: Literal["budget", "first_feasible"] = Field(
        "budget",
        description="budget: spend the budget looking for the best plan; first_feasible: stop at "
        "the first plan that meets every target",
    )
    trials: int = Field(
        30, ge=1, description="plans trained and measured, across --resume restarts and workers"
    )
    timeout_min: float | None = Field(
        8.0, gt=0.0, description="minutes per process, checked between plans; null = no limit"
    )
    sampler: Literal["tpe", "nsga2", "random"] = Field(
        "tpe", description="Optuna's sampler of plans (tpe: multi-objective)"
    )
    startup_trials: int = Field(6, ge=0, description="random plans before TPE models the front")
    ladder: bool = Field(
        True, description="start with one plan per pruning ratio, most compressed first"
    )
    study: str | None = Field(None, description="study name; null = <quality study name>-compress")
    rounds: int = Field(
        5, ge=3, description="timing rounds alternating the candidate and the FP32 baseline"
    )
    confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1.0,
        description="confidence level of the speed intervals, which must not overlap",
    )
    precheck_margin: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="fraction of a speed or size target by which a plan's untrained form may "
        "miss it before the plan is rejected without training",
    )
    prune_epochs: int = Field(3, ge=0, description="fine-tuning epochs after pruning")
    default_drop: float = Field(
        0.005, ge=0.0, description="quality budget when requirements.max_quality_drop is unset"
    )
    space: SearchSpace = Field(
        default_factory=SearchSpace, description="the choices a plan is drawn from"
    )
