"""PyTorch with ``torch.compile`` (Inductor): the eager model, compiled on its first calls.

Compilation happens during the warm-up calls of a measurement, so it never counts as latency;
each new batch size may compile again (``dynamic=False`` keeps the kernels specialised).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zenopt.runtime.torch_eager import TorchEagerPredictor

__all__ = ["TorchCompilePredictor"]


class TorchCompilePredictor(TorchEagerPredictor):
    name = "torch_compile"

    def load(self, path: Path, threads: int) -> None:
        super().load(path, threads)
        compiled: Any = torch.compile(self.model_, dynamic=False)
        self.model_ = compiled
