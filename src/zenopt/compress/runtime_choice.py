"""The runtime a plan ends in: where the candidate is deployed and measured."""

from __future__ import annotations

from zenopt.compress._base import CompressContext, CompressState, register
from zenopt.core.compress_config import Runtime
from zenopt.core.errors import ConfigError

__all__ = ["choose_runtime"]


@register(Runtime)
def choose_runtime(config: Runtime, state: CompressState, ctx: CompressContext) -> CompressState:
    if state.onnx is not None and config.name != "onnxruntime":
        raise ConfigError(
            f"compress.plan: {config.label()}: an INT8 or fp16 model runs in onnxruntime only; "
            "end the plan with runtime(name=onnxruntime)"
        )
    if state.spec.precision == "bf16" and config.name == "onnxruntime":
        raise ConfigError(
            f"compress.plan: {config.label()}: bf16 runs in PyTorch; end the plan with "
            "runtime(name=torch) or runtime(name=torch_compile)"
        )
    if config.graph_optimization != "all" and config.name != "onnxruntime":
        raise ConfigError(
            f"compress.plan: {config.label()}: graph_optimization is ONNX Runtime's; use it "
            "with runtime(name=onnxruntime)"
        )
    state.runtime = config.name
    state.threads = config.threads
    state.graph_optimization = config.graph_optimization
    note = {"step": config.label(), "runtime": config.name, "threads": config.threads}
    if config.graph_optimization != "all":
        note["graph_optimization"] = config.graph_optimization
    state.notes.append(note)
    return state
