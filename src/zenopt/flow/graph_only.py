"""The run's config for an ``onnx:PATH`` model the converter cannot turn into PyTorch.

Such a model runs as its ONNX graph (``models.onnx_file``), so only the techniques that work
on a graph apply: INT8, fp16, ONNX Runtime's settings. The search space loses pruning,
distillation and bf16, the runtimes are ONNX Runtime's, and a setting the user gave that
needs the PyTorch form is refused in one line that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zenopt.compress.plan import check_graph_plan
from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError
from zenopt.evaluate.requirements import RELATIVE_TARGETS
from zenopt.models.onnx_source import conversion_gap, is_onnx

__all__ = ["PYTORCH_TECHNIQUES", "graph_only_defaults"]

PYTORCH_TECHNIQUES = "pruning, distillation, QAT and bf16"
_NO_TORCH = "there is no PyTorch form to run (only onnxruntime)"
# The search space's choices that need the PyTorch form, and the value that leaves them out.
_SPACE: dict[str, tuple[Callable[[Any], bool], list[Any] | None]] = {
    "prune_ratio": (lambda v: v > 0, [0.0]),
    "distill": (lambda v: v is True, [False]),
    "precision": (lambda v: v == "bf16", None),
    "runtime": (lambda v: v != "onnxruntime", ["onnxruntime"]),
}


def _refuse(field: str, value: Any, name: str, gap: str, why: str = "") -> ConfigError:
    why = why or f"{PYTORCH_TECHNIQUES} do not apply"
    return ConfigError(
        f"{field}={value}: {name} runs as its ONNX graph ({gap}), so {why}; leave {field} out"
    )


def _space(config: RunConfig, gap: str) -> None:
    space = config.compress.search.space
    updates: dict[str, Any] = {}
    for key, (torch_only, keep) in _SPACE.items():
        values = list(getattr(space, key))
        if key in space.model_fields_set and any(torch_only(v) for v in values):
            raise _refuse(f"compress.search.space.{key}", values, config.model.name, gap)
        updates[key] = keep or [v for v in values if not torch_only(v)] or ["none"]
    config.compress.search.space = space.model_copy(update=updates)


def graph_only_defaults(config: RunConfig, gap: str | None = None) -> RunConfig:
    """``config`` for a model kept as its ONNX graph; other configs come back as they are.
    ``gap``: why the model has no PyTorch form, when the caller knows (a Keras factory's);
    else worked out for an ``onnx:PATH`` model."""
    if gap is None and is_onnx(config.model.name):
        gap = conversion_gap(config.model.name)
    if gap is None:
        return config
    config = config.model_copy(deep=True)
    name = config.model.name
    backends = config.bench.backends
    if "backends" in config.bench.model_fields_set and backends != ["onnxruntime"]:
        raise _refuse("bench.backends", backends, name, gap, _NO_TORCH)
    config.bench.backends = ["onnxruntime"]
    relative = [t for t in RELATIVE_TARGETS if getattr(config.requirements, t) is not None]
    if relative:
        raise ConfigError(
            f"requirements.{relative[0]} is a ratio to PyTorch eager FP32, and {name} runs as "
            f"its ONNX graph ({gap}) with no PyTorch form; give an absolute target instead "
            "(requirements.min_throughput, max_latency_ms or max_size_mb)"
        )
    if config.requirements.backend != "onnxruntime":
        raise _refuse("requirements.backend", config.requirements.backend, name, gap, _NO_TORCH)
    try:
        check_graph_plan(config.compress.plan, gap)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    _space(config, gap)
    return config
