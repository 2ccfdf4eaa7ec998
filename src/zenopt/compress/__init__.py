"""Compression techniques behind one protocol: a typed config (``zenopt.core.compress_config``)
plus a handler registered by config type, composed into plans and measured as candidates."""

from zenopt.compress._base import CompressContext, CompressState, handler_for, register
from zenopt.compress.plan import apply_plan, check_plan, parse_plan, plan_label

# Importing the technique modules registers their handlers.
from zenopt.compress import (  # noqa: F401  # isort: skip
    distill as _distill,
    precision as _precision,
    qat as _qat,
    quantize as _quantize,
    runtime_choice as _runtime_choice,
    structured as _structured,
    unstructured as _unstructured,
)

__all__ = [
    "CompressContext",
    "CompressState",
    "apply_plan",
    "check_plan",
    "handler_for",
    "parse_plan",
    "plan_label",
    "register",
]
