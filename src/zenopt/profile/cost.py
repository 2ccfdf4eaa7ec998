"""Static cost of a model: parameters, FLOPs (PyTorch's own counter) and bytes on disk."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "count_params", "file_sizes"]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one sample, as ``torch.utils.flop_counter`` counts them.

    The counter counts a multiply-add as 2 FLOPs for matmuls and convolutions and ignores
    element-wise operations, so this is the cost of the heavy kernels.
    """
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros((1, *input_shape)))
    return int(counter.get_total_flops())


def file_sizes(paths: dict[str, Path]) -> dict[str, int]:
    return {name: path.stat().st_size for name, path in paths.items() if path.is_file()}
