"""Unstructured magnitude pruning: exact sparsity, the smallest weights go, masks removed."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from zenopt.compress import apply_plan, parse_plan
from zenopt.compress.unstructured import agp_targets, sparsity
from zenopt.flow.compress import make_context
from zenopt.testing import TrainedModel


def _weights(net: nn.Module) -> dict[str, np.ndarray]:
    return {
        name: m.weight.detach().numpy().copy()
        for name, m in net.named_modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    }


@settings(max_examples=25, deadline=None)
@given(final=st.floats(0.05, 0.95), steps=st.integers(1, 8))
def test_agp_schedule_matches_zhu_and_gupta(final: float, steps: int) -> None:
    got = agp_targets(final, steps, "agp")
    k = np.arange(1, steps + 1)
    np.testing.assert_allclose(got, final * (1 - (1 - k / steps) ** 3))
    assert got[-1] == pytest.approx(final)
    assert all(np.diff(got) > 0)
    assert agp_targets(final, steps, "oneshot") == [final]


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.9])
def test_layer_sparsity_is_exact_and_the_smallest_weights_go(
    ratio: float, trained: TrainedModel, tmp_path: Path
) -> None:
    before = _weights(trained.model.net)
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    plan = parse_plan(f"unstructured(ratio={ratio}, schedule=oneshot, epochs=0)")
    state = apply_plan(plan, trained.model, trained.spec, ctx)
    after = _weights(state.model.net)
    for name, w in before.items():
        n_zero = round(ratio * w.size)
        assert int((after[name] == 0).sum()) == n_zero
        # NumPy reference: the n_zero smallest |w| are the zeroed ones (ties aside).
        order = np.argsort(np.abs(w).ravel(), kind="stable")
        threshold = np.abs(w).ravel()[order[n_zero - 1]]
        zeroed = after[name].ravel() == 0
        assert np.all(np.abs(w).ravel()[zeroed] <= threshold)
        np.testing.assert_array_equal(after[name].ravel()[~zeroed], w.ravel()[~zeroed])
    # The masks are gone: plain parameters, no forward pre-hooks, a state dict like before.
    assert set(state.model.state_dict()) == set(trained.model.state_dict())
    assert not any(m._forward_pre_hooks for m in state.model.net.modules())


def test_global_scope_reaches_the_overall_sparsity(trained: TrainedModel, tmp_path: Path) -> None:
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    plan = parse_plan("unstructured(ratio=0.6, scope=global, steps=3, epochs=1)")
    state = apply_plan(plan, trained.model, trained.spec, ctx)
    achieved = sparsity(state.model.net)
    assert achieved["total"] == pytest.approx(0.6, abs=1e-3)
    layers = [v for k, v in achieved.items() if k != "total"]
    assert max(layers) - min(layers) > 0.05  # global: layers end at different sparsities
    note = state.notes[-1]
    assert note["targets"] == pytest.approx(agp_targets(0.6, 3, "agp"), abs=1e-4)


def test_original_model_is_left_untouched(trained: TrainedModel, tmp_path: Path) -> None:
    before = copy.deepcopy(_weights(trained.model.net))
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    apply_plan(parse_plan("unstructured(ratio=0.5, epochs=0)"), trained.model, trained.spec, ctx)
    for name, w in _weights(trained.model.net).items():
        np.testing.assert_array_equal(w, before[name])
