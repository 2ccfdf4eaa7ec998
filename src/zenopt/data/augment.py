"""Augmentation of training batches, on the fly and vectorised (no per-sample Python work).

Images: random shifts and rotations in one affine resampling (``grid_sample`` with border
padding, so the background extends rather than a black frame), and Gaussian noise. Tables:
Gaussian noise, and mixup (convex mixes of row pairs and of their targets). Noise is in the
units the network sees, i.e. after the fitted scaling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zenopt.core.config import DataConfig

__all__ = ["BatchAugmenter", "affine_batch"]


def affine_batch(
    x: torch.Tensor, angles_deg: torch.Tensor, shifts_px: torch.Tensor
) -> torch.Tensor:
    """Rotate each image by ``angles_deg[i]`` about its centre (positive: clockwise as
    displayed) and shift it by ``shifts_px[i] = (dx, dy)`` pixels (positive: right, down)."""
    n, _, h, w = x.shape
    angle = angles_deg * (math.pi / 180.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros((n, 2, 3), dtype=x.dtype)
    # grid_sample maps output coordinates to input ones, so the inverse transform goes here;
    # coordinates are normalised to [-1, 1], a pixel being 2/w wide.
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = -sin * w / h, cos
    theta[:, 0, 2] = -shifts_px[:, 0] * 2.0 / w
    theta[:, 1, 2] = -shifts_px[:, 1] * 2.0 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class BatchAugmenter:
    """Applies the configured augmentations to a training batch with a seeded generator."""

    def __init__(
        self,
        methods: Sequence[str],
        *,
        shift: float = 2.0,
        rotate: float = 10.0,
        noise: float = 0.1,
        mixup_alpha: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.methods = list(methods)
        self.shift, self.rotate, self.noise, self.mixup_alpha = shift, rotate, noise, mixup_alpha
        self.generator = torch.Generator().manual_seed(seed + 7919)
        self.rng = np.random.default_rng(seed + 7919)  # for mixup's Beta-distributed weight

    @classmethod
    def from_config(cls, config: DataConfig, seed: int) -> BatchAugmenter | None:
        if not config.augment:
            return None
        return cls(
            config.augment,
            shift=config.augment_shift,
            rotate=config.augment_rotate,
            noise=config.augment_noise,
            mixup_alpha=config.mixup_alpha,
            seed=seed,
        )

    @property
    def mixes(self) -> bool:
        return "mixup" in self.methods

    def _uniform(self, n: int, bound: float) -> torch.Tensor:
        return (torch.rand(n, generator=self.generator) * 2.0 - 1.0) * bound

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if "shift" in self.methods or "rotate" in self.methods:
            angles = self._uniform(n, self.rotate) if "rotate" in self.methods else torch.zeros(n)
            shifts = (
                torch.stack([self._uniform(n, self.shift), self._uniform(n, self.shift)], dim=1)
                if "shift" in self.methods
                else torch.zeros((n, 2))
            )
            x = affine_batch(x, angles, shifts)
        if "noise" in self.methods:
            x = x + torch.randn(x.shape, generator=self.generator) * self.noise
        return x

    def mix(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Mixup: ``lam·x + (1 - lam)·x[perm]``; the loss mixes targets with the same ``lam``."""
        lam = float(self.rng.beta(self.mixup_alpha, self.mixup_alpha))
        perm = torch.randperm(x.shape[0], generator=self.generator)
        return lam * x + (1.0 - lam) * x[perm], perm, lam
