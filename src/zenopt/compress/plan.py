"""A plan: techniques applied in order, written in a config file or on the command line as
``prune(ratio=0.5) -> distill -> quantize(mode=static)``.

The text form is read by a small recursive-descent reader, one anchored regex per token;
whitespace (newlines too) may stand between any two tokens::

    plan     = step { ("->" | "→") step }
    step     = name [ "(" [ setting { "," setting } [ "," ] ] ")" ]
    setting  = key "=" value                      (each key once per step)
    value    = quoted | bare | "[" [ value { "," value } [ "," ] ] "]"
    quoted   = "'" any but "'" "'" | '"' any but '"' '"'     (always text, no escapes)
    bare     = letters, digits and _ . + / : - (not "->"), read as YAML reads a scalar:
               0.5, 1e-3, true, null, static

A trailing comma is allowed before ")" and "]", as in Python; ``prune()`` equals ``prune``.
Anything else is a :class:`ConfigError` naming the character offset (0-based) and the text
found there.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

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
from zenopt.models.onnx_file import stored_graph
from zenopt.profile.trace import span

__all__ = [
    "apply_plan",
    "check_graph_plan",
    "check_plan",
    "needs_pytorch",
    "parse_plan",
    "plan_label",
]

_ARROW = re.compile(r"->|→")
_NAME = re.compile(r"[A-Za-z_]\w*")
_BARE = re.compile(r"(?:[\w.+/:]|-(?!>))+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# What an error quotes as found: one token, or a run of stray symbols such as "=>" or "|".
_FOUND = re.compile(r"->|→|'[^']*'|\"[^\"]*\"|[()\[\],]|(?:[\w.+/:]|-(?!>))+|[^\w\s()\[\],'\"]+|.")
_OPENING = {")": "(", "]": "["}
_EXAMPLE = "prune(ratio=0.5) -> distill -> quantize"
_ADAPTER: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


@dataclass
class _RawStep:
    """A step as written, before validation; ``where`` maps a key to (key, value) offsets."""

    method: str
    at: int
    settings: dict[str, Any] = field(default_factory=dict)
    where: dict[str, tuple[int, int]] = field(default_factory=dict)


def _scalar(bare: str) -> Any:
    """A bare value as YAML reads a scalar (0.5, 1e-3, true, null); anything else stays text."""
    try:
        value = yaml.safe_load(bare)
    except yaml.YAMLError:
        return bare
    return value if value is None or isinstance(value, bool | int | float | str) else bare


class _PlanReader:
    """Recursive descent over one plan text; ``pos`` is the offset read so far."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, at: int, message: str) -> NoReturn:
        raise ConfigError(f"plan {self.text!r}: position {at}: {message}")

    def expected(self, what: str) -> NoReturn:
        found = _FOUND.match(self.text, self.pos)
        shown = repr(found.group()[:24]) if found else "the end of the plan"
        self.fail(self.pos, f"expected {what}, found {shown}")

    def skip_space(self) -> int:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos

    def take(self, token: re.Pattern[str]) -> str | None:
        match = token.match(self.text, self.skip_space())
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    def take_literal(self, literal: str) -> bool:
        if not self.text.startswith(literal, self.skip_space()):
            return False
        self.pos += len(literal)
        return True

    def plan(self) -> list[_RawStep]:
        if self.skip_space() == len(self.text):
            self.fail(self.pos, f"the plan is empty; give steps such as {_EXAMPLE}")
        steps = [self.step("a step name")]
        while self.take(_ARROW) is not None:
            steps.append(self.step("a step name after '->'"))
        if self.skip_space() < len(self.text):
            self.expected("'->' between steps")
        return steps

    def step(self, what: str) -> _RawStep:
        at = self.skip_space()
        name = self.take(_NAME)
        if name is None:
            self.expected(what)
        if name not in STEP_TYPES:
            self.fail(at, f"unknown method {name!r}; choose from {', '.join(STEP_TYPES)}")
        step = _RawStep(name, at)
        if self.take_literal("("):
            self.sequence(")", lambda: self.setting(step))
        return step

    def sequence(self, close: str, item: Callable[[], object]) -> None:
        """Items separated by commas up to ``close``, its opening just read; a trailing comma
        is allowed, as in Python."""
        opened = self.pos - 1
        while not self.take_literal(close):
            item()
            if self.take_literal(","):
                continue
            if self.take_literal(close):
                return
            self.expected(f"',' or {close!r} to close {_OPENING[close]!r} at position {opened}")

    def setting(self, step: _RawStep) -> None:
        at = self.skip_space()
        key = self.take(_NAME)
        if key is None:
            self.expected("a setting name (key=value) or ')'")
        if key == "method":
            self.fail(at, f"{step.method}: 'method' is not a setting; the step name is the method")
        if key in step.where:
            first = step.where[key][0]
            self.fail(
                at, f"{step.method}: {key!r} is set twice (first at position {first}); keep one"
            )
        if not self.take_literal("="):
            self.expected(f"'=' and a value after {key!r}")
        step.where[key] = (at, self.skip_space())
        step.settings[key] = self.value(f"a value after '{key}='")

    def value(self, what: str) -> Any:
        if self.take_literal("["):
            items: list[Any] = []
            self.sequence("]", lambda: items.append(self.value("a value or ']'")))
            return items
        if self.text.startswith(("'", '"'), self.skip_space()):
            quoted = self.take(_QUOTED)
            if quoted is None:  # no closing quote anywhere after it
                opened, self.pos = self.pos, len(self.text)
                self.expected(f"a closing {self.text[opened]!r} for the quote at position {opened}")
            return quoted[1:-1]
        bare = self.take(_BARE)
        if bare is None:
            self.expected(what)
        return _scalar(bare)


def _setting_error(text: str, raw: list[_RawStep], exc: ValidationError) -> ConfigError:
    """The first validation error, at the offset of the value (or key) it is about."""
    err = exc.errors()[0]
    step = raw[int(err["loc"][0])]
    path = [str(p) for p in err["loc"][1:]]
    key = path[1] if len(path) > 1 else ""
    key_at, value_at = step.where.get(key, (step.at, step.at))
    where = f"plan {text!r}: position"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(k for k in STEP_TYPES[step.method].model_fields if k != "method")
        return ConfigError(
            f"{where} {key_at}: unknown setting {'.'.join(path)!r}; allowed: {allowed}"
        )
    message = err["msg"].replace("Input should be", "must be")
    return ConfigError(f"{where} {value_at}: {'.'.join(path)}: {message}; got {err.get('input')!r}")


def parse_plan(text: str) -> list[Step]:
    """``prune(ratio=0.5, importance=l2) -> distill -> quantize`` to typed step configs."""
    raw = _PlanReader(text).plan()
    try:
        steps = _ADAPTER.validate_python([{"method": s.method, **s.settings} for s in raw])
    except ValidationError as exc:
        raise _setting_error(text, raw, exc) from None
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


def needs_pytorch(step: Step) -> bool:
    """Whether a step works on the PyTorch form: everything but INT8 (``quantize``), fp16 and
    ONNX Runtime as the runtime."""
    if isinstance(step, Quantize):
        return False
    if isinstance(step, Precision):
        return step.dtype != "fp16"
    if isinstance(step, Runtime):
        return step.name != "onnxruntime"
    return True


def check_graph_plan(steps: list[Step], reason: str | None) -> None:
    """A model kept as its ONNX graph (``reason``: why it has no PyTorch form) takes graph
    techniques only; anything else is refused in one line."""
    wrong = [step.label() for step in steps if needs_pytorch(step)]
    if reason is not None and wrong:
        raise ConfigError(
            f"compress.plan: {wrong[0]} needs a PyTorch form of the model, which it lacks "
            f"({reason}); plan graph techniques only: quantize, precision(dtype=fp16), "
            "runtime(name=onnxruntime)"
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
    check_graph_plan(steps, getattr(stored_graph(model), "reason", None))
    first, state = start or (0, CompressState(copy.deepcopy(model).eval(), spec))
    for i in range(first, len(steps)):
        with span(f"compress {steps[i].label()}"):
            state = handler_for(steps[i])(steps[i], state, ctx)
        if after_step is not None:
            after_step(i, state)
        if on_step is not None:
            on_step(steps[i])
    if state.runtime is None:
        state.runtime = "torch" if state.spec.precision == "bf16" else "onnxruntime"
    return state
