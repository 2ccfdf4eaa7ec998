"""The plan text grammar: every valid form reads as before, every typo is refused at its offset.

The expected steps of the valid forms were captured from the previous (split-based) reader,
so the stricter grammar changes no plan that used to be read correctly.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zenopt.compress import parse_plan
from zenopt.core.compress_config import (
    Distill,
    Precision,
    Prune,
    QuantizationAwareTraining,
    Quantize,
    Runtime,
    Step,
    UnstructuredPrune,
)
from zenopt.core.errors import ConfigError, ZenoptError

VALID: list[tuple[str, list[Step]]] = [
    ("quantize", [Quantize()]),
    ("quantize()", [Quantize()]),
    ("prune(ratio=0.5)", [Prune(ratio=0.5)]),
    (
        "prune(ratio=0.5) -> distill -> quantize(mode=static)",
        [Prune(ratio=0.5), Distill(), Quantize(mode="static")],
    ),
    (
        "prune(ratio=0.25, importance=taylor) → distill -> quantize(mode=dynamic)",
        [Prune(ratio=0.25, importance="taylor"), Distill(), Quantize(mode="dynamic")],
    ),
    ("prune->distill->quantize", [Prune(), Distill(), Quantize()]),
    (
        "  prune ( ratio = 0.5 , epochs = 1 )  ->  distill  ->\n quantize ( mode = dynamic )  ",
        [Prune(ratio=0.5, epochs=1), Distill(), Quantize(mode="dynamic")],
    ),
    ("prune(\n  ratio=0.5,\n  epochs=1\n)", [Prune(ratio=0.5, epochs=1)]),
    ("prune(round_to=auto)", [Prune(round_to="auto")]),
    ("prune(round_to=null)", [Prune(round_to=None)]),
    ("prune(lr=1e-3)", [Prune(lr=1e-3)]),
    ("prune(lr=0.001, epochs=+2)", [Prune(lr=0.001, epochs=2)]),
    (
        "distill(epochs=1, augment=[shift, rotate])",
        [Distill(epochs=1, augment=["shift", "rotate"])],
    ),
    (
        "quantize(per_channel=true, keep_float=[Conv, node_gemm])",
        [Quantize(per_channel=True, keep_float=["Conv", "node_gemm"])],
    ),
    (
        "quantize(per_channel=yes, reduce_range=false, keep_float=[])",
        [Quantize(per_channel=True, reduce_range=False, keep_float=[])],
    ),
    (
        "quantize(op_types=[MatMul, Gemm], calibration_samples=64, activation_type=uint8)",
        [Quantize(op_types=["MatMul", "Gemm"], calibration_samples=64, activation_type="uint8")],
    ),
    (
        "quantize(mode='static', keep_float=['/conv1/Conv', \"node.gemm:0\"])",
        [Quantize(mode="static", keep_float=["/conv1/Conv", "node.gemm:0"])],
    ),
    ("qat(epochs=1, per_channel=true)", [QuantizationAwareTraining(epochs=1, per_channel=True)]),
    (
        "unstructured -> prune -> distill -> qat -> runtime",
        [UnstructuredPrune(), Prune(), Distill(), QuantizationAwareTraining(), Runtime()],
    ),
    (
        "unstructured(ratio=0.6, scope=global, steps=3, epochs=1)",
        [UnstructuredPrune(ratio=0.6, scope="global", steps=3, epochs=1)],
    ),
    (
        "precision(dtype=bf16, keep=always) -> runtime(name=torch, threads=2)",
        [Precision(dtype="bf16", keep="always"), Runtime(name="torch", threads=2)],
    ),
    # A trailing comma is allowed before ")" and "]", as in Python.
    ("prune(ratio=0.5,)", [Prune(ratio=0.5)]),
    ("quantize(keep_float=[Conv,],)", [Quantize(keep_float=["Conv"])]),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[v[0] for v in VALID])
def test_valid_plans_read_as_before(text: str, expected: list[Step]) -> None:
    assert parse_plan(text) == expected


# (plan, offset of the error, what the message says there). Where the message quotes what it
# found, the plan text at that offset starts with it.
TYPOS: list[tuple[str, int, str]] = [
    ("prune(ratio=0.5) > distill", 17, "expected '->' between steps, found '>'"),
    ("prune(ratio=0.5) => distill", 17, "expected '->' between steps, found '=>'"),
    ("prune - distill", 6, "expected '->' between steps, found '-'"),
    ("prune, distill", 5, "expected '->' between steps, found ','"),
    ("prune | distill", 6, "expected '->' between steps, found '|'"),
    ("prune >> distill", 6, "expected '->' between steps, found '>>'"),
    ("prune;distill", 5, "expected '->' between steps, found ';'"),
    ("prune(ratio=0.5) distill", 17, "expected '->' between steps, found 'distill'"),
    ("prune x", 6, "expected '->' between steps, found 'x'"),
    ("prune ->", 8, "expected a step name after '->', found the end of the plan"),
    ("-> prune", 0, "expected a step name, found '->'"),
    ("prune ->  -> distill", 10, "expected a step name after '->', found '->'"),
    ("prune → → distill", 8, "expected a step name after '->', found '→'"),
    ("prune((ratio=0.5))", 6, "expected a setting name (key=value) or ')', found '('"),
    ("prune(ratio=0.5))", 16, "expected '->' between steps, found ')'"),
    ("prune)", 5, "expected '->' between steps, found ')'"),
    ("prune(ratio=0.5)(epochs=1)", 16, "expected '->' between steps, found '('"),
    (
        "prune(ratio=0.5",
        15,
        "expected ',' or ')' to close '(' at position 5, found the end of the plan",
    ),
    (
        "prune(ratio=0.5 -> distill",
        16,
        "expected ',' or ')' to close '(' at position 5, found '->'",
    ),
    (
        "prune(ratio=0.5 epochs=1)",
        16,
        "expected ',' or ')' to close '(' at position 5, found 'epochs'",
    ),
    ("prune(ratio)", 11, "expected '=' and a value after 'ratio', found ')'"),
    ("prune(ratio=)", 12, "expected a value after 'ratio=', found ')'"),
    ("prune(ratio==0.5)", 12, "expected a value after 'ratio=', found '='"),
    ("prune(=0.5)", 6, "expected a setting name (key=value) or ')', found '='"),
    ("prune(,)", 6, "expected a setting name (key=value) or ')', found ','"),
    ("prune(ratio=0.5,,)", 16, "expected a setting name (key=value) or ')', found ','"),
    (
        "prune(ratio=0.5, ratio=0.6)",
        17,
        "prune: 'ratio' is set twice (first at position 6); keep one",
    ),
    ("prune(method=distill)", 6, "prune: 'method' is not a setting"),
    (
        "prune -> foo",
        9,
        "unknown method 'foo'; choose from prune, unstructured, distill, quantize, qat, "
        "precision, runtime",
    ),
    ("Prune", 0, "unknown method 'Prune'; choose from prune,"),
    ("8bit", 0, "expected a step name, found '8bit'"),
    (
        "quantize(mode='static)",
        22,
        'expected a closing "\'" for the quote at position 14, found the end of the plan',
    ),
    (
        "quantize(keep_float=[a b])",
        23,
        "expected ',' or ']' to close '[' at position 20, found 'b'",
    ),
    (
        "quantize(keep_float=[a, b",
        25,
        "expected ',' or ']' to close '[' at position 20, found the end of the plan",
    ),
    ("quantize(keep_float=[,])", 21, "expected a value or ']', found ','"),
    ("", 0, "the plan is empty; give steps such as prune(ratio=0.5) -> distill -> quantize"),
    ("  \n ", 4, "the plan is empty"),
]


@pytest.mark.parametrize(("text", "position", "message"), TYPOS, ids=[t[0] for t in TYPOS])
def test_typos_are_refused_at_their_position(text: str, position: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_plan(text)
    error = str(info.value)
    assert isinstance(info.value, ZenoptError) and info.value.exit_code == 2
    assert error.startswith(f"plan {text!r}: position {position}: ")
    assert message in error
    assert "\n" not in error
    found = re.search(r"found '(.*)'$", message)
    if found is not None:  # the quoted text is what stands at that offset
        assert text[position:].startswith(found.group(1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prune(ratio=2)", "position 12: prune.ratio: must be less than 1; got 2"),
        ("prune(epochs=1, foo=1)", "position 16: unknown setting 'prune.foo'; allowed: ratio,"),
        ("distill -> quantize(mode=int4)", "position 25: quantize.mode: must be 'static' or"),
    ],
)
def test_bad_settings_name_their_position(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"plan {text!r}: {message}")):
        parse_plan(text)


def test_quoted_values_stay_text() -> None:
    (step,) = parse_plan("quantize(keep_float=['true', \"a, b\", 'x -> y'])")
    assert isinstance(step, Quantize)
    assert step.keep_float == ["true", "a, b", "x -> y"]
    with pytest.raises(ConfigError, match="keep_float"):
        parse_plan("quantize(keep_float=[true])")  # bare: a boolean, not a node name


TOKENS = ["prune", "(", "ratio", "=", "0.5", ",", "epochs", "=", "1", ")", "->", "distill"]
TOKENS += ["->", "quantize", "(", "keep_float", "=", "[", "Conv", ",", "Gemm", "]", ")"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(" \t\n", max_size=3), min_size=len(TOKENS), max_size=len(TOKENS)))
def test_whitespace_between_tokens_changes_nothing(spaces: list[str]) -> None:
    text = "".join(space + token for space, token in zip(spaces, TOKENS, strict=True))
    assert parse_plan(text) == [
        Prune(ratio=0.5, epochs=1),
        Distill(),
        Quantize(keep_float=["Conv", "Gemm"]),
    ]


def test_labels_read_back_as_the_same_steps() -> None:
    from zenopt.compress import plan_label
    from zenopt.core.compress_config import Distill, Prune, Quantize

    steps = [Prune(ratio=0.5, round_to=None, steps=2), Distill(), Quantize(mode="static")]
    assert parse_plan(plan_label(steps)) == steps
