"""Plans drawn from the search space: every draw is a valid plan, the conditional choices hold
(no distillation without pruning, INT8/fp16 plans end in ONNX Runtime), and the speed-only
form drops what does not change speed."""

from __future__ import annotations

import optuna
import pytest

from zenopt.compress.plan import check_plan, plan_label
from zenopt.compress.search_space import precisions, sample_plan, speed_only
from zenopt.core.compress_config import Distill, Precision, Prune, Quantize, Runtime
from zenopt.core.errors import ConfigError
from zenopt.core.search_config import SearchConfig, SearchSpace

NO_BF16: dict[str, bool] = {"avx512_bf16": False}


def test_fixed_choices_make_the_expected_plan() -> None:
    trial = optuna.trial.FixedTrial(
        {
            "prune_ratio": 0.5,
            "importance": "taylor",
            "distill": True,
            "temperature": 2.0,
            "distill_epochs": 10,
            "quantize": "static",
            "calibration": "percentile",
            "per_channel": True,
            "keep_float": "none",
            "threads": 1,
        }
    )
    steps = sample_plan(trial, SearchConfig(prune_epochs=2), ["none", "fp16"])
    assert plan_label(steps) == (
        "prune(ratio=0.5, importance=taylor, epochs=2) -> distill(temperature=2.0) -> "
        "quantize(mode=static, calibration=percentile, per_channel=true, keep_float=[]) -> "
        "runtime(name=onnxruntime, threads=1)"
    )


def test_random_draws_are_valid_plans() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    search = SearchConfig(space=SearchSpace(runtime=["onnxruntime", "torch", "torch_compile"]))
    seen = set()
    for _ in range(150):
        trial = study.ask()
        steps = sample_plan(trial, search, precisions(search, NO_BF16))
        check_plan(steps)  # raises on an invalid order
        study.tell(trial, [0.0, 0.0, 0.0])
        seen.add(plan_label(steps))
        kinds = [type(s) for s in steps]
        assert isinstance(steps[-1], Runtime)
        if Distill in kinds:
            assert kinds[0] is Prune  # nothing to distill into without pruning
        onnx_only = any(
            isinstance(s, Quantize) or (isinstance(s, Precision) and s.dtype == "fp16")
            for s in steps
        )
        if onnx_only:
            assert steps[-1].name == "onnxruntime"
        assert not any(isinstance(s, Precision) and s.dtype == "bf16" for s in steps)
    assert len(seen) > 50  # the space is explored, not one plan repeated


def test_bf16_is_offered_only_where_the_cpu_has_it() -> None:
    search = SearchConfig(space=SearchSpace(precision=["none", "fp16", "bf16"]))
    assert precisions(search, {"avx512_bf16": False}) == ["none", "fp16"]
    assert precisions(search, {"avx512_bf16": True}) == ["none", "fp16", "bf16"]
    assert precisions(SearchConfig(space=SearchSpace(precision=["bf16"])), {}) == ["none"]


def test_speed_only_form_drops_training() -> None:
    steps = [
        Prune(ratio=0.5, epochs=3),
        Distill(epochs=10),
        Quantize(mode="static"),
        Runtime(threads=1),
    ]
    fast = speed_only(steps)
    assert [type(s) for s in fast] == [Prune, Quantize, Runtime]
    assert fast[0].epochs == 0 and fast[0].ratio == 0.5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("prune_ratio", [0.5, 1.0], "in \\[0, 1\\)"),
        ("temperature", [0.0], "> 0"),
        ("threads", [0], ">= 1"),
        ("quantize", ["static", "static"], "must not repeat"),
    ],
)
def test_bad_space_values_are_rejected(field: str, value: object, message: str) -> None:
    from zenopt.core.config import load_config

    with pytest.raises(ConfigError, match=message):
        load_config(None, [f"compress.search.space.{field}={value}"])


def test_the_ladder_walks_the_pruning_ratios_with_full_recovery() -> None:
    from zenopt.compress.search_space import ladder

    search = SearchConfig()
    plans = ladder(search, vnni=False)
    assert [p["prune_ratio"] for p in plans] == [0.7, 0.6, 0.5, 0.4]
    first = sample_plan(optuna.trial.FixedTrial(plans[0]), search, ["none", "fp16"])
    assert plan_label(first) == (
        "prune(ratio=0.7, importance=taylor) -> distill(temperature=2.0, epochs=20) -> "
        "quantize(mode=dynamic) -> runtime(name=onnxruntime)"
    )
    assert {p["quantize"] for p in ladder(search, vnni=True)} == {"static"}
    fp32 = SearchConfig(space=SearchSpace(quantize=["none"], distill=[False]))
    steps = sample_plan(optuna.trial.FixedTrial(ladder(fp32, False)[0]), fp32, ["none"])
    assert plan_label(steps) == "prune(ratio=0.7, importance=taylor) -> runtime(name=onnxruntime)"


def test_the_graph_optimisation_level_is_drawn_for_onnx_runtime_plans_only() -> None:
    search = SearchConfig(
        space=SearchSpace(
            prune_ratio=[0.0], quantize=["none"], precision=["none"],
            runtime=["onnxruntime", "torch"], graph_optimization=["extended", "all"],
        )
    )  # fmt: skip
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    levels: dict[str, set[str]] = {"onnxruntime": set(), "torch": set()}
    for _ in range(40):
        trial = study.ask()
        runtime = sample_plan(trial, search, ["none"])[-1]
        assert isinstance(runtime, Runtime)
        levels[runtime.name].add(runtime.graph_optimization)
        assert ("graph_optimization" in trial.params) == (runtime.name == "onnxruntime")
        study.tell(trial, 0.0)
    assert levels == {"onnxruntime": {"all", "extended"}, "torch": {"all"}}
    fixed = SearchConfig(space=SearchSpace(graph_optimization=["extended"]))
    trial = optuna.trial.FixedTrial({"prune_ratio": 0.0, "quantize": "static",
                                     "calibration": "minmax", "per_channel": False,
                                     "keep_float": "auto", "threads": None})  # fmt: skip
    assert plan_label(sample_plan(trial, fixed, ["none"])).endswith(
        "runtime(name=onnxruntime, graph_optimization=extended)"
    )  # one choice: taken, not drawn
