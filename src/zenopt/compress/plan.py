"""A plan: techniques applied in order, written in a config file or on the command line as
``prune(ratio=0.5) -> distill -> quantize(mode=static)``."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from zenopt.compress._base import CompressContext, CompressState, handler_for
from zenopt.core.compress_config import (
    STEP_TYPES,
    Precision,
    QuantizationAwareTraining,
    Quantize,
    Runtime,
    Step,
)
from zenopt.core.errors import ConfigError
from zenopt.models import DeployableModel, ModelSpec

__all__ = ["apply_plan", "check_plan", "parse_plan", "plan_label"]

_SEPARATORS = re.compile(r"\s*(?:->|→|>)\s*")
_STEP = re.compile(r"^(?P<name>[a-z_]+)\s*(?:\((?P<args>.*)\))?$", re.S)
_ADAPTER: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


def _split(text: str) -> list[str]:
    """The steps of a plan text (no setting value contains an arrow)."""
    if text.count("(") != text.count(")"):
        raise ConfigError(f"--plan {text!r}: unbalanced parentheses")
    return [part for part in _SEPARATORS.split(text.strip()) if part]


def parse_plan(text: str) -> list[Step]:
    """``prune(ratio=0.5, importance=l2) -> distill -> quantize`` to typed step configs."""
    raw: list[dict[str, Any]] = []
    for part in _split(text):
        match = _STEP.match(part.strip())
        if match is None:
            raise ConfigError(
                f"--plan: cannot read step {part!r}; write name(key=value, ...), for example "
                "prune(ratio=0.5)"
            )
        name, args = match.group("name"), match.group("args") or ""
        if name not in STEP_TYPES:
            raise ConfigError(
                f"--plan: unknown method {name!r}; choose from {', '.join(STEP_TYPES)}"
            )
        mapping = re.sub(r"(\w+)\s*=\s*", r"\1: ", args)
        try:
            values = yaml.safe_load("{" + mapping + "}") if args.strip() else {}
        except yaml.YAMLError:
            raise ConfigError(f"--plan: cannot read the settings of {part!r}") from None
        raw.append({"method": name, **values})
    if not raw:
        raise ConfigError("--plan is empty; give steps such as prune -> distill -> quantize")
    try:
        steps = _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"][1:])
        message = err["msg"].replace("Input should be", "must be")
        if err["type"] == "extra_forbidden":
            kind = STEP_TYPES[str(err["loc"][1])]
            allowed = ", ".join(k for k in kind.model_fields if k != "method")
            raise ConfigError(f"--plan: unknown setting {loc!r}; allowed: {allowed}") from None
        raise ConfigError(f"--plan: {loc}: {message}; got {err.get('input')!r}") from None
    check_plan(steps)
    return steps


def _makes_onnx(step: Step) -> bool:
    return isinstance(step, Quantize | QuantizationAwareTraining) or (
        isinstance(step, Precision) and step.dtype == "fp16"
    )


def check_plan(steps: list[Step]) -> None:
    """Order rules, checked before any work: PyTorch-level steps first, one ONNX-level step
    (quantize, qat or fp16), a runtime step last if any."""
    onnx_step: Step | None = None
    for i, step in enumerate(steps):
        if isinstance(step, Runtime) and i != len(steps) - 1:
            raise ConfigError(f"compress.plan: {step.label()} must be the last step")
        if onnx_step is not None and not isinstance(step, Runtime):
            raise ConfigError(
                f"compress.plan: {step.label()} cannot follow {onnx_step.label()}: after it "
                "the model is ONNX INT8/fp16; put quantize, qat or fp16 last"
            )
        if _makes_onnx(step):
            onnx_step = step
        if isinstance(step, Runtime) and onnx_step is not None and step.name != "onnxruntime":
            raise ConfigError(
                f"compress.plan: {step.label()}: {onnx_step.label()} makes an ONNX model, which "
                "runs in onnxruntime only"
            )


def plan_label(steps: list[Step]) -> str:
    return " -> ".join(step.label() for step in steps)


def apply_plan(
    steps: list[Step],
    model: DeployableModel,
    spec: ModelSpec,
    ctx: CompressContext,
    on_step: Callable[[Step], None] | None = None,
    start: tuple[int, CompressState] | None = None,
    after_step: Callable[[int, CompressState], None] | None = None,
) -> CompressState:
    """Run every step on a copy of ``model`` (the original is never changed); ``on_step`` is
    called after each. ``start``: (n, state) resumes after the first n steps from ``state``
    (a cached prefix); ``after_step(i, state)`` sees the state after step i."""
    check_plan(steps)
    first, state = start or (0, CompressState(copy.deepcopy(model).eval(), spec))
    for i in range(first, len(steps)):
        state = handler_for(steps[i])(steps[i], state, ctx)
        if after_step is not None:
            after_step(i, state)
        if on_step is not None:
            on_step(steps[i])
    if state.runtime is None:
        state.runtime = "torch" if state.spec.precision == "bf16" else "onnxruntime"
    return state
