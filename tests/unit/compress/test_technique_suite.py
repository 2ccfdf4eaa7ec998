"""Every technique passes the shared suite of ``zenopt.testing``."""

from __future__ import annotations

from pathlib import Path

import pytest

from zenopt.testing import (
    Applied,
    TechniqueCase,
    TrainedModel,
    apply_case,
    check_bad_settings,
    check_deterministic,
    check_output_shape,
    check_quality,
    check_round_trip,
)

# Each technique with short fine-tuning, and the accuracy it may lose on the small model.
CASES = [
    TechniqueCase(
        "prune(ratio=0.3, importance=taylor, scope=global, steps=2, epochs=1)",
        0.05,
        "prune-taylor-global",
    ),
    TechniqueCase("unstructured(ratio=0.5, steps=2, epochs=1)", 0.05, "unstructured-agp"),
    TechniqueCase("distill(epochs=2)", 0.03, "distill"),
    TechniqueCase("quantize(mode=static)", 0.03, "static-int8"),
    TechniqueCase("quantize(mode=dynamic)", 0.03, "dynamic-int8"),
    TechniqueCase("qat(epochs=1)", 0.03, "qat"),
    TechniqueCase("precision(dtype=fp16, keep=always)", 0.01, "fp16"),
    TechniqueCase("precision(dtype=bf16, keep=always) -> runtime(name=torch)", 0.03, "bf16"),
    TechniqueCase("runtime(name=torch)", 0.0, "torch-eager"),
    TechniqueCase("prune(ratio=0.5, epochs=1) -> distill(epochs=2) -> quantize", 0.06, "plan"),
]
IDS = [case.id for case in CASES]


def test_every_technique_has_a_case_in_the_suite() -> None:
    """A technique added without a suite case fails here, not silently later."""
    from zenopt.compress import parse_plan
    from zenopt.core.compress_config import STEP_TYPES

    covered = {step.method for case in CASES for step in parse_plan(case.plan)}
    assert covered == set(STEP_TYPES)
    precisions = {s.dtype for c in CASES for s in parse_plan(c.plan) if s.method == "precision"}
    assert precisions == {"fp16", "bf16"}


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def applied(
    request: pytest.FixtureRequest,
    trained: TrainedModel,
    tmp_path_factory: pytest.TempPathFactory,
) -> Applied:
    """Each case applied once, saved and reloaded; the checks below share the result."""
    case: TechniqueCase = request.param
    return apply_case(case, trained, tmp_path_factory.mktemp(case.id))


def test_output_shape_is_preserved(applied: Applied, trained: TrainedModel) -> None:
    check_output_shape(applied, trained)


def test_quality_stays_within_the_stated_bound(applied: Applied, trained: TrainedModel) -> None:
    check_quality(applied, trained)


def test_saved_form_reloads_to_identical_outputs(
    applied: Applied, trained: TrainedModel, tmp_path: Path
) -> None:
    check_round_trip(applied, trained, tmp_path)


def test_deterministic_under_a_seed(
    applied: Applied, trained: TrainedModel, tmp_path: Path
) -> None:
    check_deterministic(applied, trained, tmp_path)


@pytest.mark.parametrize(
    ("method", "bad"),
    [
        ("prune", "ratio=1.0"),
        ("prune", "ratio=0"),
        ("prune", "importance=l3"),
        ("prune", "round_to=0"),
        ("unstructured", "ratio=1.5"),
        ("unstructured", "schedule=linear"),
        ("distill", "alpha=2"),
        ("distill", "temperature=0"),
        ("quantize", "mode=int4"),
        ("quantize", "calibration=mse"),
        ("qat", "epochs=0"),
        ("precision", "dtype=fp8"),
        ("runtime", "name=tensorrt"),
        ("prune", "bogus=1"),
    ],
)
def test_bad_settings_are_refused_in_one_line(method: str, bad: str) -> None:
    check_bad_settings(method, bad)
