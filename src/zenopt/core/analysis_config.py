"""The ``analysis:`` section: the profiles and explanations the report shows beyond the verdict.

Each part is measured after the flow has chosen its model, on the same machine, and written to
the manifest (so ``zenopt report`` rebuilds it); each can be switched off to save its seconds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["AnalysisConfig"]


class AnalysisConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    operators: bool = Field(
        True, description="per-operator time of the baselines and the chosen model, before/after"
    )
    operator_calls: int = Field(
        50,
        ge=5,
        description="profiled calls per model at the latency batch (a tenth, at least 5, at the "
        "throughput batch)",
    )
    scaling: bool = Field(
        True, description="throughput vs batch 1 … largest, speed vs threads 1 … all cores"
    )
    memory: bool = Field(
        True,
        description="peak inference memory and load time per runtime, each in a fresh process",
    )
    ceiling: bool = Field(
        True,
        description="this CPU's peak FP32/INT8 GEMM rate (cached) and each model's fraction of it",
    )
    explain: bool = Field(
        True,
        description="permutation importance (tables), saliency maps (images), per-class errors",
    )
    instructions: bool = Field(
        False,
        description="instructions per inference with Valgrind's callgrind: a noise-free check "
        "on the time ratios (needs valgrind; minutes)",
    )
    instruction_repeats: int = Field(
        3, ge=3, le=20, description="counted blocks per model and batch (their spread is shown)"
    )
    instruction_batches: list[int] | None = Field(
        None,
        description="batch sizes to count at; null = the latency and the throughput batch "
        "(a CNN at batch 256 takes minutes per call under Valgrind)",
    )

    @field_validator("instruction_batches")
    @classmethod
    def _positive_batches(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and (not value or any(b < 1 for b in value)):
            raise ValueError("give batch sizes >= 1, or null for the run's two batches")
        return sorted(set(value)) if value is not None else None

    explain_repeats: int = Field(
        5, ge=1, description="shuffles per feature for permutation importance (tables)"
    )
    saliency_images: int = Field(
        10, ge=1, le=50, description="test images explained (the first of each class in turn)"
    )
