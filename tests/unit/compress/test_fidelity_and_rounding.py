"""A candidate is what it claims to be: its deployed graph agrees with the FP32 form it came
from (a broken one does not), and a pruning ratio is reported as applied, after rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from zenopt.compress import apply_plan, parse_plan
from zenopt.compress.candidate import save_candidate
from zenopt.compress.effects import no_effect
from zenopt.compress.fidelity import agreement, fidelity
from zenopt.core.config import load_config
from zenopt.flow.compress import make_context
from zenopt.flow.data import prepare_data
from zenopt.flow.train import build, train
from zenopt.testing import TrainedModel


def _break(graph: bytes) -> bytes:
    """The same graph with its last weight matrix shuffled: it runs, and predicts nonsense."""
    model = onnx.load_from_string(graph)
    weights = [i for i in model.graph.initializer if len(i.dims) == 2]
    last = weights[-1]
    array = numpy_helper.to_array(last).copy()
    np.random.default_rng(0).shuffle(array.reshape(-1))
    last.CopyFrom(numpy_helper.from_array(array, last.name))
    return model.SerializeToString()


def test_an_int8_candidate_agrees_with_its_fp32_form_and_a_broken_one_does_not(
    trained: TrainedModel, tmp_path: Path
) -> None:
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path / "ctx")
    state = apply_plan(parse_plan("quantize(mode=static)"), trained.model, trained.spec, ctx)
    X = trained.stage.prepared.splits.val.X
    good = fidelity(state, save_candidate(state, tmp_path / "good", X), X, 1)
    assert good["agreement"] >= 0.98 and good["rows"] == len(X)
    assert good["form"] == "ONNX (INT8 or fp16)" and 0 < good["max_abs_diff"] < 5
    assert state.onnx is not None
    state.onnx = _break(state.onnx)
    bad = fidelity(state, save_candidate(state, tmp_path / "bad", X), X, 1)
    assert bad["agreement"] < 0.5 and bad["max_abs_diff"] > good["max_abs_diff"]


def test_agreement_counts_rows_with_the_same_prediction() -> None:
    a = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    b = np.array([[0.8, 0.2], [0.9, 0.1], [0.6, 0.4], [0.1, 0.9]])
    assert agreement(a, b, "softmax") == 0.75
    values = np.array([[1.0], [2.0], [3.0]])
    assert agreement(values + 0.001, values, "identity") == 1.0  # within 1% of the spread
    assert agreement(values + np.array([[0.0], [0.0], [1.0]]), values, "identity") == 2 / 3


def test_a_rounded_ratio_is_reported_as_applied_per_layer(tmp_path: Path) -> None:
    config = load_config(
        None, ["data.source=wine", "model.name=mlp", "model.params.hidden=[48]", "train.epochs=2"]
    )
    stage = prepare_data(config)
    net, spec = build(config, stage.dataset, stage.prepared)
    model, _, _ = train(config, stage.dataset, stage.prepared, net)
    ctx = make_context(config, stage, model, tmp_path)
    plan = parse_plan("prune(ratio=0.5, epochs=0, round_to=16)")
    note = apply_plan(plan, model, spec, ctx).notes[-1]
    ((layer, (before, after)),) = note["channels"].items()
    assert before == 48 and after % 16 == 0 and after != 24  # half of 48 is not a multiple of 16
    assert note["ratio"] == 0.5
    assert note["applied_ratio"] == {layer: round(1 - after / 48, 4)}
    assert no_effect([note]) == []
    # In steps of 48, a 48-wide layer can lose nothing (never a layer whole).
    idle = apply_plan(parse_plan("prune(ratio=0.5, epochs=0, round_to=48)"), model, spec, ctx)
    assert no_effect(idle.notes) == [
        "prune(ratio=0.5, round_to=48, epochs=0): no effect: no channel removed at round_to=48 "
        "(give a larger ratio or a smaller round_to)"
    ]
