"""Typed configs of the compression techniques, and a plan: an ordered list of them.

The YAML ``method:`` field selects the config class (a pydantic discriminated union); the
handler of each class is registered in ``zenopt.compress`` by config type. Configs hold
settings only; the work happens in the handlers.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from zenopt.core.search_config import SearchConfig, SearchSpace

__all__ = [
    "STEP_TYPES",
    "CompressConfig",
    "Distill",
    "Precision",
    "Prune",
    "QuantizationAwareTraining",
    "Quantize",
    "Runtime",
    "SearchConfig",
    "SearchSpace",
    "Step",
    "UnstructuredPrune",
]


def _text(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if value is None:
        return "null"  # as the plan syntax reads it back
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Settings every label shows, even at their default (a plan reads "prune(ratio=0.5)").
    _shown: ClassVar[tuple[str, ...]] = ()

    def label(self) -> str:
        """The step as the plan syntax writes it: ``prune(ratio=0.5, importance=l2)``."""
        changed = self.model_dump(mode="json", exclude={"method"}, exclude_defaults=True)
        values = {k: getattr(self, k) for k in self._shown} | changed
        inner = ", ".join(f"{k}={_text(v)}" for k, v in values.items())
        method = str(self.method)  # type: ignore[attr-defined]
        return f"{method}({inner})" if inner else method


class Prune(_Step):
    """Structured channel pruning with Torch-Pruning: whole channels go, layers get narrower."""

    _shown = ("ratio",)

    method: Literal["prune"] = "prune"
    ratio: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of channels removed")
    importance: Literal["l1", "l2", "taylor"] = "l1"
    scope: Literal["layer", "global"] = Field("layer", description="ratio per layer or overall")
    round_to: int | Literal["auto"] | None = Field(
        "auto", description="channel counts rounded to a multiple; auto: the CPU's SIMD width"
    )
    steps: int = Field(1, ge=1, description="iterative pruning steps, each fine-tuned")
    epochs: int = Field(3, ge=0, description="fine-tuning epochs after each step")
    lr: float = Field(1e-3, gt=0.0)

    @field_validator("round_to")
    @classmethod
    def _round(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be a positive channel multiple, 'auto' or null")
        return value


class UnstructuredPrune(_Step):
    """Magnitude pruning of single weights (``l1_unstructured``); the tensors stay dense."""

    _shown = ("ratio",)

    method: Literal["unstructured"] = "unstructured"
    ratio: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of weights set to zero")
    scope: Literal["layer", "global"] = "layer"
    schedule: Literal["oneshot", "agp"] = Field(
        "agp", description="agp: sparsity grows cubically over the steps (Zhu & Gupta)"
    )
    steps: int = Field(3, ge=1)
    epochs: int = Field(2, ge=0, description="fine-tuning epochs after each step")
    lr: float = Field(1e-3, gt=0.0)


class Distill(_Step):
    """Knowledge distillation: the trained baseline teaches the current (smaller) model."""

    method: Literal["distill"] = "distill"
    temperature: float = Field(4.0, gt=0.0)
    alpha: float = Field(0.7, ge=0.0, le=1.0, description="weight of the teacher's loss")
    augment: list[Literal["shift", "rotate", "noise"]] | Literal["auto"] = Field(
        "auto",
        description="perturb the inputs the teacher labels; auto: as the run augments its "
        "training (data.augment), as every fine-tuning step does",
    )
    epochs: int = Field(10, ge=1)
    lr: float = Field(1e-3, gt=0.0)


class _QuantSettings(_Step):
    calibration: Literal["minmax", "entropy", "percentile"] = "minmax"
    calibration_samples: int = Field(512, ge=1, description="training rows used to calibrate")
    per_channel: bool = False
    activation_type: Literal["auto", "uint8", "int8"] = "auto"
    weight_type: Literal["int8", "uint8"] = "int8"
    reduce_range: bool | Literal["auto"] = Field(
        "auto", description="7-bit weights; auto: on CPUs without VNNI, where 8 bits saturate"
    )
    keep_float: list[str] | Literal["auto"] = Field(
        "auto",
        description="node names or op types left in float; auto: convolutions reading the "
        "raw image (<= 3 channels)",
    )


class Quantize(_QuantSettings):
    """INT8 with ONNX Runtime: static QDQ (calibrated) or dynamic (weights only)."""

    _shown = ("mode",)

    method: Literal["quantize"] = "quantize"
    mode: Literal["static", "dynamic"] = "static"
    op_types: list[str] | None = Field(
        None, description="ops to quantize; null: all for static, MatMul/Gemm for dynamic"
    )


class QuantizationAwareTraining(_QuantSettings):
    """Fine-tune with fake INT8 quantization, then export as QDQ for ONNX Runtime."""

    method: Literal["qat"] = "qat"
    epochs: int = Field(3, ge=1)
    lr: float = Field(1e-4, gt=0.0)


class Precision(_Step):
    """Lower float precision: bf16 (PyTorch autocast) or fp16 (ONNX float16)."""

    _shown = ("dtype",)

    method: Literal["precision"] = "precision"
    dtype: Literal["bf16", "fp16"] = "fp16"
    keep: Literal["if_faster", "always"] = Field(
        "if_faster", description="if_faster: measured against fp32, dropped when not faster"
    )


GraphLevel = Literal["all", "extended", "basic", "none"]


class Runtime(_Step):
    """The runtime the plan ends in; the candidate is measured there."""

    _shown = ("name",)

    method: Literal["runtime"] = "runtime"
    name: Literal["onnxruntime", "torch", "torch_compile"] = "onnxruntime"
    threads: int | None = Field(None, ge=1, description="null: all physical cores")
    graph_optimization: GraphLevel = Field(
        "all",
        description="ONNX Runtime's graph optimisation level (onnxruntime only): all, "
        "extended (no layout optimisations), basic, none; stored in the model file",
    )


Step = Annotated[
    Prune
    | UnstructuredPrune
    | Distill
    | Quantize
    | QuantizationAwareTraining
    | Precision
    | Runtime,
    Field(discriminator="method"),
]

STEP_TYPES: dict[str, type[_Step]] = {
    cls.model_fields["method"].default: cls
    for cls in (
        Prune,
        UnstructuredPrune,
        Distill,
        Quantize,
        QuantizationAwareTraining,
        Precision,
        Runtime,
    )
}


class CompressConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    plan: list[Step] = Field(
        default_factory=list, description="steps applied in order after the baseline is exported"
    )
    min_agreement: float = Field(
        0.98,
        ge=0.0,
        le=1.0,
        description="a candidate's top-1 agreement with the FP32 form it came from, on the "
        "validation split, below which it is rejected (a broken graph, not a drop in quality)",
    )
    finetune_holdout: float = Field(
        0.1,
        gt=0.0,
        lt=0.5,
        description="fraction of the training split that fine-tuning and distillation stop "
        "early on (the validation split selects between candidates, so none may see it)",
    )
    search: SearchConfig = Field(default_factory=SearchConfig)
