"""A plan equal to a measured one in every step that decides speed and size, and nowhere
narrower, misses the efficiency targets that one missed: checked case by case."""

from __future__ import annotations

from typing import Any

from zenopt.compress.dominance import dominating_record, layer_widths, speed_form
from zenopt.core.compress_config import Distill, Prune, Quantize, Runtime, Step


def _dump(steps: list[Step]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in steps]


def _plan(ratio: float, mode: str = "dynamic", distill: bool = True) -> list[dict[str, Any]]:
    steps: list[Step] = [Prune(ratio=ratio, importance="taylor")]
    if distill:
        steps.append(Distill(temperature=2.0, epochs=20))
    return _dump([*steps, Quantize(mode=mode), Runtime(name="onnxruntime")])


def _record(
    trial: int, steps: list[dict[str, Any]], widths: dict[str, int], missed: list[str]
) -> dict[str, Any]:
    channels = {layer: [64, after] for layer, after in widths.items()}
    return {
        "trial": trial,
        "steps": steps,
        "notes": [{"step": "prune", "channels": channels}, None, {"step": "quantize"}],
        "missed": missed,
        "acceptance": {"accepted": True},
    }


MEASURED = _record(2, _plan(0.5), {"0": 16, "2": 32, "7": 64}, ["min_throughput_speedup"])


def test_a_ratio_that_rounds_to_the_same_convs_is_dominated() -> None:
    # Ratio 0.4 left the convs as 0.5 did (16, 32) and the dense layer wider (72).
    found = dominating_record(_plan(0.4), {"0": 16, "2": 32, "7": 72}, [MEASURED])
    assert found == (MEASURED, ["min_throughput_speedup"])


def test_weights_only_steps_and_pruning_settings_do_not_matter() -> None:
    no_distill = _plan(0.3, distill=False)
    assert speed_form(no_distill) == speed_form(_plan(0.5))
    assert dominating_record(no_distill, {"0": 16, "2": 32, "7": 64}, [MEASURED]) is not None


def test_narrower_anywhere_or_another_form_is_not_dominated() -> None:
    assert dominating_record(_plan(0.6), {"0": 8, "2": 32, "7": 64}, [MEASURED]) is None
    static = _plan(0.4, mode="static")
    assert dominating_record(static, {"0": 16, "2": 32, "7": 72}, [MEASURED]) is None


def test_a_layer_left_whole_is_the_widest() -> None:
    # This plan keeps layer 7 whole: no narrower than the measured plan's 64.
    assert dominating_record(_plan(0.4), {"0": 16, "2": 32}, [MEASURED]) is not None
    # The measured plan kept layer 7 whole; this one prunes it: it may be faster.
    whole = _record(3, _plan(0.5), {"0": 16, "2": 32}, ["min_size_reduction"])
    assert dominating_record(_plan(0.4), {"0": 16, "2": 32, "7": 72}, [whole]) is None


def test_only_efficiency_misses_of_measured_plans_count() -> None:
    quality = _record(4, _plan(0.5), {"0": 16, "2": 32, "7": 64}, ["max_quality_drop"])
    rejected = {**MEASURED, "trial": 5}
    del rejected["acceptance"]  # rejected before training: nothing was measured
    widths = {"0": 16, "2": 32, "7": 72}
    assert dominating_record(_plan(0.4), widths, [quality, rejected]) is None
    both = _record(6, _plan(0.5), widths, ["max_quality_drop", "max_size_mb"])
    assert dominating_record(_plan(0.4), widths, [quality, both]) == (both, ["max_size_mb"])


def test_layer_widths_read_the_pruning_note() -> None:
    notes = [{"channels": {"0": [32, 16], "2": [64, 32]}}, None, {"step": "distill"}]
    assert layer_widths(notes) == {"0": 16, "2": 32}
    assert layer_widths([None, {"step": "quantize"}]) == {}
