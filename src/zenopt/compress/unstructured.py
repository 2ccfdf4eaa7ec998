"""Unstructured magnitude pruning, the classic PyTorch recipe (``torch.nn.utils.prune``).

Single weights with the smallest magnitude are zeroed, in a gradual (AGP) schedule with
fine-tuning in between, and the masks are removed at the end. The tensors stay dense, so dense
kernels run exactly as fast as before; what shrinks is the compressed file size.
"""

from __future__ import annotations

import numpy as np
from torch import nn
from torch.nn.utils import prune

from zenopt.compress._base import (
    CompressContext,
    CompressState,
    finetune,
    register,
    require_pytorch_form,
)
from zenopt.core.compress_config import UnstructuredPrune

__all__ = ["agp_targets", "sparsity", "unstructured_prune"]

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def agp_targets(final: float, steps: int, schedule: str) -> list[float]:
    """Sparsity after each step: ``oneshot`` jumps there, ``agp`` follows Zhu & Gupta (2017),
    s_k = s_f · (1 − (1 − k/n)³), fast at first while there are many redundant weights."""
    if schedule == "oneshot":
        return [final]
    return [final * (1.0 - (1.0 - k / steps) ** 3) for k in range(1, steps + 1)]


def sparsity(net: nn.Module) -> dict[str, float]:
    """Fraction of exactly-zero weights per Conv/Linear layer, and over all of them."""
    zeros = total = 0
    out: dict[str, float] = {}
    for name, module in net.named_modules():
        if isinstance(module, _WEIGHTED):
            weight = module.weight.detach()
            z = int((weight == 0).sum())
            out[name] = z / weight.numel()
            zeros, total = zeros + z, total + weight.numel()
    out["total"] = zeros / total if total else 0.0
    return out


@register(UnstructuredPrune)
def unstructured_prune(
    config: UnstructuredPrune, state: CompressState, ctx: CompressContext
) -> CompressState:
    require_pytorch_form(config, state)
    params = [(m, "weight") for m in state.model.net.modules() if isinstance(m, _WEIGHTED)]
    sizes = [int(m.weight.numel()) for m, _ in params]
    done = [0] * len(params)  # weights zeroed so far, per layer
    targets = agp_targets(config.ratio, config.steps, config.schedule)
    for step, target in enumerate(targets, start=1):
        # 1. Zero the next share of weights. Counts are integers, so the final sparsity is
        #    exactly round(ratio · size) per layer (or over all layers for global scope).
        if config.scope == "global":
            want = round(target * sum(sizes)) - sum(done)
            prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=want)
            done = [int((m.weight == 0).sum()) for m, _ in params]
        else:
            for i, (module, name) in enumerate(params):
                want = round(target * sizes[i]) - done[i]
                prune.l1_unstructured(module, name, amount=want)  # type: ignore[no-untyped-call]
                done[i] += want
        # 2. Fine-tune with the masks in place: zeroed weights stay zero.
        finetune(
            state, ctx, config.epochs, config.lr, f"unstructured {step}/{len(targets)}: fine-tune"
        )
    for module, name in params:  # 3. Masks out: plain dense tensors with zeros in them.
        prune.remove(module, name)  # type: ignore[no-untyped-call]
    achieved = sparsity(state.model.net)
    state.notes.append(
        {
            "step": config.label(),
            "targets": [float(np.round(t, 4)) for t in targets],
            "sparsity": achieved,
        }
    )
    return state
