"""``serve:``: how a run measures its deployed model behind ``zenopt serve`` when the
requirements name a serving target (``requirements.serve_p99_ms`` at ``serve_rate``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ServeConfig"]


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    budget_s: float = Field(
        120.0, gt=0.0, description="wall time for the search over the serving knobs"
    )
    requests: int = Field(
        2000,
        ge=50,
        description="requests per latency figure, sent open loop at the target rate",
    )
    arrivals: Literal["constant", "poisson"] = Field(
        "constant", description="request arrivals: evenly spaced, or a Poisson process"
    )
    binary: bool = Field(True, description="send tensors in Triton's binary format, not JSON")
    max_batch: list[int] = Field([1, 8, 32], description="--max-batch values searched")
    max_delay_us: list[int] = Field([0, 500, 2000], description="--max-delay-us values searched")
    workers: list[int] = Field([1], description="--workers values searched")
    threads: list[int | None] = Field(
        [None], description="--threads values searched (null: as the run deployed the model)"
    )
    inline_us: list[int] = Field(
        [0, 200],
        description="--inline-us values searched: runtime calls this short (µs) run on the "
        "server's own thread while it is less than half busy; 0: always in the inference thread",
    )
