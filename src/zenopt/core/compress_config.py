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

    method: Literal["prune"] = Field("prune", description="selects this technique in a plan")
    ratio: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of channels removed")
    importance: Literal["l1", "l2", "taylor"] = Field(
        "l1",
        description="channel importance: l1 or l2 norm of the weights, or taylor: "
        "|weight × gradient| on 4 training batches",
    )
    scope: Literal["layer", "global"] = Field(
        "layer",
        description="layer: each layer loses ratio; global: channels compete across layers, "
        "no layer losing more than 95%",
    )
    round_to: int | Literal["auto"] | None = Field(
        "auto",
        description="channel counts rounded to a multiple; auto: the CPU's SIMD width (16 with "
        "AVX-512, 8 with AVX2, else 4); null = no rounding",
    )
    steps: int = Field(1, ge=1, description="iterative pruning steps, each fine-tuned")
    epochs: int = Field(3, ge=0, description="fine-tuning epochs after each step")
    lr: float = Field(1e-3, gt=0.0, description="learning rate of the fine-tuning")

    @field_validator("round_to")
    @classmethod
    def _round(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be a positive channel multiple, 'auto' or null")
        return value


class UnstructuredPrune(_Step):
    """Magnitude pruning of single weights (``l1_unstructured``); the tensors stay dense."""

    _shown = ("ratio",)

    method: Literal["unstructured"] = Field(
        "unstructured", description="selects this technique in a plan"
    )
    ratio: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of weights set to zero")
    scope: Literal["layer", "global"] = Field(
        "layer",
        description="layer: each layer loses ratio of its weights; global: weights compete "
        "across layers",
    )
    schedule: Literal["oneshot", "agp"] = Field(
        "agp",
        description="agp: sparsity grows cubically over the steps (Zhu & Gupta); oneshot: one "
        "step to ratio",
    )
    steps: int = Field(3, ge=1, description="pruning steps of the agp schedule, each fine-tuned")
    epochs: int = Field(2, ge=0, description="fine-tuning epochs after each step")
    lr: float = Field(1e-3, gt=0.0, description="learning rate of the fine-tuning")


class Distill(_Step):
    """Knowledge distillation: the trained baseline teaches the current (smaller) model."""

    method: Literal["distill"] = Field("distill", description="selects this technique in a plan")
    temperature: float = Field(
        4.0, gt=0.0, description="softening temperature T of the teacher's and student's outputs"
    )
    alpha: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="weight of the teacher's loss; the task loss weighs 1 - alpha",
    )
    augment: list[Literal["shift", "rotate", "noise"]] | Literal["auto"] = Field(
        "auto",
        description="perturb the inputs the teacher labels (shift and rotate: images only); "
        "auto: as the run augments its training (data.augment), as every fine-tuning step does",
    )
    epochs: int = Field(10, ge=1, description="distillation epochs")
    lr: float = Field(1e-3, gt=0.0, description="learning rate of the distillation")


class _QuantSettings(_Step):
    calibration: Literal["minmax", "entropy", "percentile"] = Field(
        "minmax", description="how static INT8 calibrates the activation ranges"
    )
    calibration_samples: int = Field(
        512, ge=1, description="training rows used to calibrate (seeded)"
    )
    per_channel: bool = Field(
        False, description="quantize weights per output channel, not per tensor"
    )
    activation_type: Literal["auto", "uint8", "int8"] = Field(
        "auto", description="activation type of static INT8; auto: uint8 (U8S8, the fast x86 path)"
    )
    weight_type: Literal["int8", "uint8"] = Field("int8", description="the INT8 weights' type")
    reduce_range: bool | Literal["auto"] = Field(
        "auto", description="7-bit weights; auto: on CPUs without VNNI, where 8 bits saturate"
    )
    keep_float: list[str] | Literal["auto"] = Field(
        "auto",
        description="node names or op types left in float; auto: convolutions reading the "
        "raw image (<= 3 channels); qat takes auto only",
    )


class Quantize(_QuantSettings):
    """INT8 with ONNX Runtime: static QDQ (calibrated) or dynamic (weights only)."""

    _shown = ("mode",)

    method: Literal["quantize"] = Field("quantize", description="selects this technique in a plan")
    mode: Literal["static", "dynamic"] = Field(
        "static",
        description="static: a QDQ model with calibrated activation ranges; dynamic: only "
        "weights quantized ahead of time",
    )
    op_types: list[str] | None = Field(
        None, description="ops to quantize; null: all for static, MatMul/Gemm for dynamic"
    )


class QuantizationAwareTraining(_QuantSettings):
    """Fine-tune with fake INT8 quantization, then export as QDQ for ONNX Runtime."""

    method: Literal["qat"] = Field("qat", description="selects this technique in a plan")
    epochs: int = Field(3, ge=1, description="fine-tuning epochs with fake INT8 quantization")
    lr: float = Field(1e-4, gt=0.0, description="learning rate of the fine-tuning")


class Precision(_Step):
    """Lower float precision: bf16 (PyTorch autocast) or fp16 (ONNX float16)."""

    _shown = ("dtype",)

    method: Literal["precision"] = Field(
        "precision", description="selects this technique in a plan"
    )
    dtype: Literal["bf16", "fp16"] = Field(
        "fp16",
        description="fp16: the ONNX model in float16, run in ONNX Runtime; bf16: PyTorch "
        "bfloat16 autocast (native only with AVX-512 BF16 or AMX)",
    )
    keep: Literal["if_faster", "always"] = Field(
        "if_faster",
        description="if_faster: timed against fp32 at batch 1 and 64, dropped unless faster at "
        "both; always: kept anyway",
    )


GraphLevel = Literal["all", "extended", "basic", "none"]


class Runtime(_Step):
    """The runtime the plan ends in; the candidate is measured there."""

    _shown = ("name",)

    method: Literal["runtime"] = Field("runtime", description="selects this technique in a plan")
    name: Literal["onnxruntime", "torch", "torch_compile"] = Field(
        "onnxruntime",
        description="the runtime the candidate is deployed and measured in (INT8 and fp16: "
        "onnxruntime only; bf16: torch or torch_compile)",
    )
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
        default_factory=list,
        description="techniques applied in order after the baseline is exported, e.g. "
        "[{method: prune, ratio: 0.5}, {method: distill}, {method: quantize}]; [] = none (see "
        "the compression guide for every method and its settings)",
    )
    min_agreement: float = Field(
        0.98,
        ge=0.0,
        le=1.0,
        description="a candidate's top-1 agreement with the FP32 form it came from, on the "
        "validation split, below which it is rejected (a broken graph, not a drop in quality; "
        "see 'Every candidate is what it claims to be' in the efficiency search guide)",
    )
    finetune_holdout: float = Field(
        0.1,
        gt=0.0,
        lt=0.5,
        description="fraction of the training split that fine-tuning and distillation stop "
        "early on (the validation split selects between candidates, so none may see it)",
    )
    search: SearchConfig = Field(
        default_factory=SearchConfig,
        description="the efficiency loop (see the efficiency search guide); off with a plan",
    )
