"""Structured channel pruning with Torch-Pruning: whole channels are removed, and the dependency
graph narrows every coupled layer with them (a conv's outputs and the next layer's inputs), so
the result is a smaller dense network that any runtime runs faster."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from zenopt.compress._base import (
    CompressContext,
    CompressState,
    finetune,
    register,
    require_pytorch_form,
)
from zenopt.core.compress_config import Prune
from zenopt.core.errors import ConfigError
from zenopt.models.registry import build_model
from zenopt.models.shapes import describe_shapes
from zenopt.profile.cost import count_params
from zenopt.train import task_loss

__all__ = ["prune_channels", "simd_channels"]

_ROOTS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
# Batches whose gradients the Taylor importance accumulates before each pruning step.
TAYLOR_BATCHES = 4


def simd_channels(cpu_flags: dict[str, bool]) -> int:
    """Float32 lanes of the widest vector unit: 16 with AVX-512, 8 with AVX2, else 4."""
    if cpu_flags.get("avx512f"):
        return 16
    return 8 if cpu_flags.get("avx2") else 4


def _importance(kind: str) -> Any:
    import torch_pruning as tp

    if kind == "taylor":
        return tp.importance.TaylorImportance()
    return tp.importance.MagnitudeImportance(p=1 if kind == "l1" else 2)


def _taylor_gradients(net: nn.Module, ctx: CompressContext, batch: int) -> None:
    rng = np.random.default_rng(ctx.seed)
    rows = rng.permutation(len(ctx.X_train))[: batch * TAYLOR_BATCHES]
    X = torch.from_numpy(ctx.net_input(ctx.X_train[rows]))
    y = torch.from_numpy(ctx.y_train[rows])
    net.zero_grad()
    net.eval()
    for start in range(0, len(rows), batch):
        task_loss(net(X[start : start + batch]), y[start : start + batch], ctx.loss).backward()  # type: ignore[no-untyped-call]


def _widths(net: nn.Module) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            out[name] = module.out_features
        elif isinstance(module, _ROOTS):
            out[name] = int(module.out_channels)  # type: ignore[arg-type]
    return out


@register(Prune)
def prune_channels(config: Prune, state: CompressState, ctx: CompressContext) -> CompressState:
    import torch_pruning as tp

    require_pytorch_form(config, state)
    net = state.model.net
    layers = [m for m in net.modules() if isinstance(m, _ROOTS)]
    if not layers:
        raise ConfigError(
            f"compress.plan: {config.label()}: model {state.spec.name!r} has no Conv or Linear "
            "layer to prune"
        )
    round_to = simd_channels(ctx.cpu_flags) if config.round_to == "auto" else config.round_to
    before, widths = count_params(net), _widths(net)
    example = torch.zeros((1, *state.spec.net_shape))
    pruner = tp.pruner.MetaPruner(
        net,
        example,
        importance=_importance(config.importance),
        pruning_ratio=config.ratio,
        global_pruning=config.scope == "global",
        iterative_steps=config.steps,
        max_pruning_ratio=0.95,  # never remove a layer whole
        # the output layer keeps one unit per output; a converted ONNX graph names the layers
        # whose channels something reads unevenly (onnx_rewrite.unprunable_layers)
        ignored_layers=[layers[-1], *getattr(net, "ignored_for_pruning", list)()],
        round_to=round_to,
    )
    # 1. Each step removes its share of channels, then fine-tuning recovers the accuracy.
    history = []
    for step in range(config.steps):
        if config.importance == "taylor":
            _taylor_gradients(net, ctx, ctx.train.batch_size)
        pruner.step()
        net.zero_grad(set_to_none=True)
        result = finetune(
            state, ctx, config.epochs, config.lr, f"prune {step + 1}/{config.steps}: fine-tune"
        )
        history.append(None if result is None else result.best_value)
    # 2. The architecture travels as the factory's layer sizes overridden by the pruned ones.
    spec = state.spec
    reference = build_model(
        spec.name, spec.net_shape, spec.num_outputs, spec.params, spec.factory_folder
    )
    state.spec = dataclasses.replace(spec, shapes=describe_shapes(net, reference))
    after = _widths(net)
    state.notes.append(
        {
            "step": config.label(),
            "params_before": before,
            "params_after": count_params(net),
            "round_to": round_to,
            "channels": {k: [widths[k], after[k]] for k in widths if widths[k] != after.get(k)},
            # The ratio asked for, and per layer the one applied after rounding to round_to.
            "ratio": config.ratio,
            "applied_ratio": {
                k: round(1 - after[k] / widths[k], 4) for k in widths if widths[k] != after.get(k)
            },
            "val_metric_after_finetune": history,
        }
    )
    return state
