"""Built-in models. Each adapts to the input shape and number of outputs it is given."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from zenopt.models.registry import register_model

__all__ = ["mlp", "mnist_cnn", "tf_cnn"]


def _check_image(input_shape: tuple[int, ...], smallest: int, name: str) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise ValueError(f"{name} needs (channels, height, width) input, got {input_shape}")
    c, h, w = input_shape
    if min(h, w) < smallest:
        raise ValueError(f"{name} needs images of at least {smallest}x{smallest}, got {h}x{w}")
    return c, h, w


@register_model("mlp")
def mlp(
    input_shape: tuple[int, ...],
    num_outputs: int,
    hidden: Sequence[int] = (128, 64),
    dropout: float = 0.1,
    width: int | None = None,
    depth: int | None = None,
) -> nn.Module:
    """Flatten → [Linear → ReLU → Dropout] per hidden size → Linear.

    ``width`` and ``depth`` (both searchable) replace ``hidden`` with ``depth`` layers starting at
    ``width`` units and halving each layer (never below 8): width 256, depth 3 → 256, 128, 64.
    """
    if width is not None or depth is not None:
        first = int(width if width is not None else hidden[0] if hidden else 64)
        layers_n = int(depth if depth is not None else len(hidden))
        if first < 1 or layers_n < 0:
            raise ValueError(f"width must be >= 1 and depth >= 0, got {width}, {depth}")
        hidden = [max(8, first >> i) if first >= 8 else first for i in range(layers_n)]
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if any(int(h) < 1 for h in hidden):
        raise ValueError(f"hidden sizes must be >= 1, got {list(hidden)}")
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for size in hidden:
        layers += [nn.Linear(width, int(size)), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


@register_model("mnist_cnn", needs_images=True)
def mnist_cnn(
    input_shape: tuple[int, ...],
    num_outputs: int,
    dropout1: float = 0.25,
    dropout2: float = 0.5,
) -> nn.Module:
    """The classic PyTorch MNIST example net.

    conv 32 3×3 → ReLU → conv 64 3×3 → ReLU → max-pool 2 → dropout → fc 128 → ReLU → dropout
    → fc out.
    """
    c, h, w = _check_image(input_shape, 6, "mnist_cnn")
    flat = 64 * ((h - 4) // 2) * ((w - 4) // 2)
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, 1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(dropout1),
        nn.Flatten(),
        nn.Linear(flat, 128),
        nn.ReLU(),
        nn.Dropout(dropout2),
        nn.Linear(128, num_outputs),
    )


@register_model("tf_cnn", needs_images=True)
def tf_cnn(
    input_shape: tuple[int, ...],
    num_outputs: int,
    dropout: float = 0.4,
) -> nn.Module:
    """The classic TensorFlow MNIST net.

    conv 32 5×5 same → ReLU → pool 2 → conv 64 5×5 same → ReLU → pool 2 → fc 1024 → ReLU
    → dropout → fc out.
    """
    c, h, w = _check_image(input_shape, 4, "tf_cnn")
    flat = 64 * (h // 2 // 2) * (w // 2 // 2)
    return nn.Sequential(
        nn.Conv2d(c, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(flat, 1024),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(1024, num_outputs),
    )
