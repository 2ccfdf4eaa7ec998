"""Structured pruning removes whole channels: before fine-tuning, the narrowed network computes
exactly what the original computes with those channels zeroed."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zenopt.compress import apply_plan, parse_plan
from zenopt.compress.structured import simd_channels
from zenopt.flow.compress import make_context
from zenopt.models import load_deployable, save_deployable
from zenopt.testing import TrainedModel


def _pruned(trained: TrainedModel, tmp_path: Path, plan: str) -> tuple[nn.Module, object]:
    ctx = make_context(trained.config, trained.stage, trained.model, tmp_path)
    state = apply_plan(parse_plan(plan), trained.model, trained.spec, ctx)
    return state.model, state


def test_channels_halve_and_round_to_the_simd_width(trained: TrainedModel, tmp_path: Path) -> None:
    model, state = _pruned(trained, tmp_path, "prune(ratio=0.5, epochs=0, round_to=8)")
    convs = [m for m in model.net.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.net.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [16, 32]
    assert [c.in_channels for c in convs] == [1, 16]
    assert linears[0].out_features == 64
    assert linears[-1].out_features == trained.spec.num_outputs  # the output layer is kept
    assert state.spec.shapes["0"] == {"type": "Conv2d", "in_channels": 1, "out_channels": 16}


def test_pruned_network_equals_the_original_with_removed_channels_zeroed(
    trained: TrainedModel, tmp_path: Path
) -> None:
    original = copy.deepcopy(trained.model.net).eval()
    model, _ = _pruned(trained, tmp_path, "prune(ratio=0.5, epochs=0, round_to=null)")
    pruned = model.net.eval()
    # Which output channels of the first conv survived: match each kept filter to the original.
    conv_o, conv_p = original[0], pruned[0]
    kept = [
        int(np.argmin(((conv_o.weight - w).abs().flatten(1).sum(1)).detach().numpy()))
        for w in conv_p.weight
    ]
    assert len(set(kept)) == conv_p.out_channels
    np.testing.assert_array_equal(conv_p.weight.detach(), conv_o.weight.detach()[kept])
    # Zero the other channels of the first conv in the original; the first two layers' outputs
    # must then agree on the kept channels and be exactly zero elsewhere.
    masked = copy.deepcopy(original)
    drop = [i for i in range(conv_o.out_channels) if i not in kept]
    with torch.no_grad():
        masked[0].weight[drop] = 0
        masked[0].bias[drop] = 0
    x = torch.from_numpy(trained.stage.prepared.model_input(trained.stage.prepared.splits.test.X))
    with torch.no_grad():
        full = masked[1](masked[0](x))
        narrow = pruned[1](pruned[0](x))
    np.testing.assert_allclose(full[:, kept].numpy(), narrow.numpy(), rtol=1e-6, atol=1e-6)
    assert float(full[:, drop].abs().max()) == 0.0


def test_pruned_model_travels_as_json_and_safetensors(
    trained: TrainedModel, tmp_path: Path
) -> None:
    model, state = _pruned(trained, tmp_path, "prune(ratio=0.5, epochs=0)")
    save_deployable(model, state.spec, tmp_path)  # type: ignore[attr-defined]
    loaded, spec = load_deployable(tmp_path)
    assert spec.shapes == state.spec.shapes  # type: ignore[attr-defined]
    X = torch.from_numpy(trained.stage.prepared.splits.test.X)
    with torch.no_grad():
        np.testing.assert_array_equal(loaded(X).numpy(), model(X).numpy())
    assert sum(p.numel() for p in loaded.parameters()) < sum(
        p.numel() for p in trained.model.parameters()
    )


def test_mlp_prunes_too(tmp_path: Path) -> None:
    from zenopt.core.config import load_config
    from zenopt.flow.data import prepare_data
    from zenopt.flow.train import build, train

    config = load_config(None, ["data.source=iris", "model.name=mlp", "train.epochs=3"])
    stage = prepare_data(config)
    net, spec = build(config, stage.dataset, stage.prepared)
    model, _, _ = train(config, stage.dataset, stage.prepared, net)
    ctx = make_context(config, stage, model, tmp_path)
    state = apply_plan(parse_plan("prune(ratio=0.5, epochs=0, round_to=8)"), model, spec, ctx)
    widths = [m.out_features for m in state.model.net.modules() if isinstance(m, nn.Linear)]
    assert widths == [64, 32, 3]


@pytest.mark.parametrize(
    ("flags", "lanes"),
    [({"avx512f": True, "avx2": True}, 16), ({"avx2": True}, 8), ({}, 4)],
)
def test_simd_width_from_cpu_flags(flags: dict[str, bool], lanes: int) -> None:
    assert simd_channels(flags) == lanes
