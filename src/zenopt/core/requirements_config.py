"""``requirements:``: the quality, speed and size targets a run is judged by, and the
per-class targets (by class name, as the report shows them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["RequirementsConfig"]


class RequirementsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    min_accuracy: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="quality target: lowest accuracy "
        "(decided on validation, confirmed on the test split)",
    )
    min_f1: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="quality target: lowest macro F1 "
        "(decided on validation, confirmed on the test split)",
    )
    min_precision: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="quality target: lowest macro precision "
        "(decided on validation, confirmed on the test split)",
    )
    min_recall: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="quality target: lowest macro recall "
        "(decided on validation, confirmed on the test split)",
    )
    min_class_recall: dict[str, float] = Field(
        default_factory=dict,
        description="lowest recall of named classes, by class name, e.g. {malignant: 0.95}",
    )
    min_class_precision: dict[str, float] = Field(
        default_factory=dict, description="lowest precision of named classes, by class name"
    )
    max_mse: float | None = Field(
        None,
        ge=0.0,
        description="regression quality target: highest MSE "
        "(decided on validation, confirmed on the test split)",
    )
    max_mae: float | None = Field(
        None,
        ge=0.0,
        description="regression quality target: highest MAE "
        "(decided on validation, confirmed on the test split)",
    )
    min_r2: float | None = Field(
        None,
        le=1.0,
        description="regression quality target: lowest R² "
        "(decided on validation, confirmed on the test split)",
    )
    max_latency_ms: float | None = Field(
        None,
        gt=0.0,
        description="efficiency target: highest latency in milliseconds, at latency_batch and "
        "latency_percentile, in the deployed runtime",
    )
    latency_batch: int = Field(
        1, ge=1, description="batch size of max_latency_ms and min_latency_speedup"
    )
    latency_percentile: Literal[50, 90, 95, 99] = Field(
        95, description="the latency percentile the latency targets apply to"
    )
    min_throughput: float | None = Field(
        None,
        gt=0.0,
        description="efficiency target: lowest throughput in samples per second, at "
        "throughput_batch",
    )
    throughput_batch: int = Field(
        64, ge=1, description="batch size of min_throughput and min_throughput_speedup"
    )
    max_size_mb: float | None = Field(
        None,
        gt=0.0,
        description="efficiency target: largest deployed file on disk, in MB (10^6 bytes)",
    )
    max_quality_drop: float | None = Field(
        None,
        ge=0.0,
        description="primary metric lost vs the trained model (0.005 = 0.5 points), a paired "
        "comparison on the same rows; the search accepts on validation, the test split confirms "
        "the deployed model",
    )
    quality_drop_mode: Literal["auto", "absolute", "relative"] = Field(
        "auto",
        description="absolute points, or relative: a fraction of the baseline's value; auto: "
        "relative for MSE/MAE, absolute otherwise",
    )
    min_latency_speedup: float | None = Field(
        None,
        gt=0.0,
        description="× lower latency than PyTorch eager FP32 measured in the same run, at "
        "latency_batch and latency_percentile",
    )
    min_throughput_speedup: float | None = Field(
        None,
        gt=0.0,
        description="× PyTorch eager FP32 throughput (samples/s) at throughput_batch, measured "
        "in the same run",
    )
    min_size_reduction: float | None = Field(
        None,
        gt=0.0,
        description="× smaller than the PyTorch FP32 weights file (with its model.json)",
    )
    backend: str = Field("onnxruntime", description="runtime the efficiency targets apply to")
    serve_p99_ms: float | None = Field(
        None,
        gt=0.0,
        description="p99 latency of zenopt serve at serve_rate (one sample a request); set with "
        "serve_rate, it adds a serve stage (see 'Latency under load' in the serving guide)",
    )
    serve_rate: float | None = Field(
        None, gt=0.0, description="requests per second the serve_p99_ms target applies at"
    )

    @field_validator("min_class_recall", "min_class_precision", mode="before")
    @classmethod
    def _class_names_as_text(cls, value: Any) -> Any:
        """YAML reads ``{1: 0.95}`` with an int key; class names are text (``1``)."""
        if not isinstance(value, dict):
            return value
        # 1 and 1.0 are class "1", as the data's labels are named; YAML's True (from yes)
        # is named back once the classes are known (validate_class_targets)
        number = [k for k in value if isinstance(k, int | float) and not isinstance(k, bool)]
        named: dict[Any, str] = {
            k: str(int(k)) if float(k).is_integer() else str(k) for k in number
        }
        named.update({k: str(k) for k in value if isinstance(k, bool)})  # yes/no: see the data
        return {named.get(k, k): v for k, v in value.items()}

    @field_validator("min_class_recall", "min_class_precision")
    @classmethod
    def _class_targets(cls, value: dict[str, float]) -> dict[str, float]:
        for name, target in value.items():
            if not 0.0 <= target <= 1.0:
                raise ValueError(f"class {name!r}: {target} is not between 0 and 1")
        return value

    @model_validator(mode="after")
    def _serving_pair(self) -> RequirementsConfig:
        if (self.serve_p99_ms is None) != (self.serve_rate is None):
            given = "serve_p99_ms" if self.serve_rate is None else "serve_rate"
            missing = "serve_rate" if self.serve_rate is None else "serve_p99_ms"
            raise ValueError(
                f"requirements.{given} needs requirements.{missing}: a p99 latency is a target "
                "at a request rate; set both"
            )
        return self
