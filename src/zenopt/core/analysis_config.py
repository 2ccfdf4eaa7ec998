"""The ``analysis:`` section: the profiles and explanations the report shows beyond the verdict.

Each part is measured after the flow has chosen its model, on the same machine, and written to
the manifest (so ``zenopt report`` rebuilds it); each can be switched off to save its seconds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AnalysisConfig"]


class AnalysisConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    operators: bool = Field(True, description="per-operator time, baseline vs chosen model")
    operator_calls: int = Field(50, ge=5, description="profiled calls per model and batch")
    scaling: bool = Field(True, description="throughput vs batch size, speed vs threads")
    memory: bool = Field(True, description="peak inference memory per runtime (own process)")
    ceiling: bool = Field(True, description="this CPU's peak FP32/INT8 GEMM rate (cached)")
    explain: bool = Field(
        True, description="permutation importance, saliency maps, per-class errors"
    )
    explain_repeats: int = Field(5, ge=1, description="shuffles per feature (tables)")
    saliency_images: int = Field(10, ge=1, le=50, description="test images explained")
