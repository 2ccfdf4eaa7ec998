"""Static cost of a model: parameters, FLOPs (PyTorch's own counter) and bytes on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_flops", "count_params", "file_sizes"]


def count_params(model: nn.Module) -> int:
    """Trainable values; for a model kept as its ONNX graph, the values the graph stores."""
    stored = _stored_graph(model)
    if stored is not None:
        return int(stored.graph_cost()[0])
    return sum(p.numel() for p in model.parameters())


def _stored_graph(model: nn.Module) -> Any:
    from zenopt.models.onnx_file import stored_graph

    return stored_graph(model)


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one sample, as ``torch.utils.flop_counter`` counts them.

    The counter counts a multiply-add as 2 FLOPs for matmuls and convolutions and ignores
    element-wise operations, so this is the cost of the heavy kernels.
    """
    stored = _stored_graph(model)
    if stored is not None:  # counted on the graph, as for any ONNX file (0 when it cannot be)
        return int(stored.graph_cost()[1] or 0)
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros((1, *input_shape)))
    return int(counter.get_total_flops())


def file_sizes(paths: dict[str, Path]) -> dict[str, int]:
    return {name: path.stat().st_size for name, path in paths.items() if path.is_file()}
