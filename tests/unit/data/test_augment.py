from __future__ import annotations

import numpy as np
import pytest
import torch

from zenopt.core.config import DataConfig, TrainConfig
from zenopt.data.augment import BatchAugmenter, affine_batch
from zenopt.train import fit


def _image() -> torch.Tensor:
    return torch.arange(36, dtype=torch.float32).reshape(1, 1, 6, 6)


def test_whole_pixel_shift_moves_the_image() -> None:
    x = _image()
    shifted = affine_batch(x, torch.zeros(1), torch.tensor([[1.0, 2.0]]))  # right 1, down 2
    torch.testing.assert_close(shifted[0, 0, 2:, 1:], x[0, 0, :-2, :-1])
    torch.testing.assert_close(shifted[0, 0, 0, 1:], x[0, 0, 0, :-1])  # border, not black


def test_quarter_turn_equals_rot90() -> None:
    x = _image()
    turned = affine_batch(x, torch.tensor([90.0]), torch.zeros(1, 2))
    # a positive angle turns the picture clockwise as displayed (rows downward)
    torch.testing.assert_close(turned, torch.rot90(x, k=-1, dims=(2, 3)), atol=1e-4, rtol=0)


def test_zero_augmentation_is_identity_and_noise_has_its_std() -> None:
    x = torch.randn(64, 1, 8, 8)
    same = BatchAugmenter(["shift", "rotate"], shift=0.0, rotate=0.0)(x)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    noisy = BatchAugmenter(["noise"], noise=0.5, seed=1)(torch.zeros(200, 50))
    assert float(noisy.std()) == pytest.approx(0.5, rel=0.05)


def test_augmentation_is_seeded() -> None:
    x = torch.randn(8, 1, 8, 8)
    methods = ["shift", "rotate", "noise", "mixup"]
    a, b, c = (BatchAugmenter(methods, seed=s) for s in (3, 3, 4))
    xa, xb, xc = a(x), b(x), c(x)
    torch.testing.assert_close(xa, xb)
    assert not torch.allclose(xa, xc)
    (ma, pa, la), (mb, pb, lb) = a.mix(x), b.mix(x)
    torch.testing.assert_close(ma, mb)
    assert la == lb and torch.equal(pa, pb)


def test_mixup_mixes_rows_and_targets_with_one_lambda() -> None:
    augmenter = BatchAugmenter(["mixup"], mixup_alpha=0.4, seed=0)
    x = torch.randn(10, 3)
    mixed, perm, lam = augmenter.mix(x)
    torch.testing.assert_close(mixed, lam * x + (1 - lam) * x[perm])
    assert 0.0 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(10))


def test_training_with_augmentation_runs_through_the_trainer() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    augmenter = BatchAugmenter.from_config(
        DataConfig(augment=["shift", "rotate", "noise", "mixup"]), 0
    )
    assert augmenter is not None and augmenter.mixes
    result = fit(model, X, y, X, y, TrainConfig(epochs=2), "cross_entropy", 0, augmenter=augmenter)
    assert len(result.history) == 2 and np.isfinite(result.history[-1].train_loss)
    assert BatchAugmenter.from_config(DataConfig(), 0) is None
