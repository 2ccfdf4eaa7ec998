"""Plans: the text syntax, the config-file form, the order rules and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from zenopt.compress import check_plan, parse_plan, plan_label
from zenopt.core.compress_config import Distill, Prune, Quantize, Runtime
from zenopt.core.config import load_config
from zenopt.core.errors import ConfigError


def test_text_plan_becomes_typed_configs() -> None:
    steps = parse_plan("prune(ratio=0.25, importance=taylor) → distill -> quantize(mode=dynamic)")
    assert steps == [
        Prune(ratio=0.25, importance="taylor"),
        Distill(),
        Quantize(mode="dynamic"),
    ]


def test_lists_and_booleans_in_settings() -> None:
    (step,) = parse_plan("quantize(per_channel=true, keep_float=[Conv, node_gemm])")
    assert isinstance(step, Quantize)
    assert step.per_channel is True
    assert step.keep_float == ["Conv", "node_gemm"]


@settings(max_examples=40, deadline=None)
@given(
    ratio=st.floats(0.01, 0.99),
    importance=st.sampled_from(["l1", "l2", "taylor"]),
    temperature=st.floats(0.5, 20.0),
    mode=st.sampled_from(["static", "dynamic"]),
    per_channel=st.booleans(),
)
def test_label_parses_back_to_the_same_plan(
    ratio: float, importance: str, temperature: float, mode: str, per_channel: bool
) -> None:
    steps = [
        Prune(ratio=ratio, importance=importance),  # type: ignore[arg-type]
        Distill(temperature=temperature),
        Quantize(mode=mode, per_channel=per_channel),  # type: ignore[arg-type]
        Runtime(),
    ]
    assert parse_plan(plan_label(steps)) == steps


def test_config_file_plan(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    plan = [{"method": "prune", "ratio": 0.5}, {"method": "distill"}, {"method": "quantize"}]
    path.write_text(yaml.safe_dump({"compress": {"plan": plan}}))
    config = load_config(path)
    assert config.compress.plan == [Prune(ratio=0.5), Distill(), Quantize()]
    assert config.to_dict()["compress"]["plan"][0]["method"] == "prune"


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ([{"method": "prune", "ratio": 1.0}], "compress.plan.0.prune.ratio: must be less than 1"),
        ([{"method": "bogus"}], "compress.plan.0.method: unknown method 'bogus'; choose from"),
        ([{"method": "distill", "temp": 3}], "unknown key 'compress.plan.0.distill.temp'"),
    ],
)
def test_config_file_errors_name_the_step(
    tmp_path: Path, plan: list[dict[str, object]], expected: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"compress": {"plan": plan}}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prune -> foo", "unknown method 'foo'"),
        ("prune(ratio=0.5", "position 15: expected ',' or ')' to close '(' at position 5"),
        ("quantize -> prune", "prune(ratio=0.5) cannot follow quantize(mode=static)"),
        ("qat -> quantize", "cannot follow qat"),
        ("runtime -> distill", "must be the last step"),
        ("quantize -> runtime(name=torch)", "runs in onnxruntime only"),
        ("precision(dtype=fp16) -> distill", "cannot follow precision(dtype=fp16)"),
        ("", "the plan is empty"),
        ("prune(ratio=[)", "position 13: expected a value or ']', found ')'"),
    ],
)
def test_bad_plans_fail_in_one_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_plan(text)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_check_plan_accepts_torch_steps_then_one_onnx_step_then_runtime() -> None:
    check_plan(parse_plan("unstructured -> prune -> distill -> qat -> runtime"))
    check_plan(parse_plan("prune -> precision(dtype=bf16) -> runtime(name=torch_compile)"))
