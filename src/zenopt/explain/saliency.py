"""Gradient saliency maps of an image model: which pixels move its decision.

For each explained test image, the gradient of the predicted class's output with respect to
the input pixels (Simonyan et al., 2014); its absolute value, maximum over channels, scaled to
0–255, is the map. Images larger than 64 px a side are average-pooled for the report. Stored as
small integer grids so the report draws them from the manifest alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["saliency_maps"]

MAX_SIDE = 64


def _to_grid(image: torch.Tensor) -> list[list[int]]:
    """(H, W) float → 0–255 integer rows, pooled to at most MAX_SIDE a side."""
    h, w = image.shape
    if max(h, w) > MAX_SIDE:
        scale = MAX_SIDE / max(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        image = F.adaptive_avg_pool2d(image[None, None], size)[0, 0]
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else torch.zeros_like(image)
    return (scaled * 255).round().to(torch.int64).tolist()


def saliency_maps(
    model: torch.nn.Module,
    head: str,
    X: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    count: int,
) -> dict[str, Any]:
    """Saliency of up to ``count`` test images: the first of each class in turn, so that as
    many classes as possible are shown."""
    order: list[int] = []
    classes = list(dict.fromkeys(int(c) for c in y))
    by_class = {c: [i for i in range(len(y)) if int(y[i]) == c] for c in classes}
    rank = 0
    while len(order) < min(count, len(y)):
        added = False
        for c in classes:
            if rank < len(by_class[c]) and len(order) < count:
                order.append(by_class[c][rank])
                added = True
        if not added:
            break
        rank += 1
    model.eval()
    items = []
    for i in order:
        x = torch.from_numpy(np.ascontiguousarray(X[i : i + 1], np.float32)).requires_grad_(True)
        out = model(x)
        if head == "softmax":
            predicted = int(out.argmax(dim=1))
            target = out[0, predicted]
        else:  # sigmoid: the logit itself; its sign is the decision
            predicted = int(out.reshape(-1)[0] > 0)
            target = out.reshape(-1)[0]
        (grad,) = torch.autograd.grad(target, x)
        pixels = x.detach()[0].mean(dim=0)
        items.append(
            {
                "index": int(i),
                "true": class_names[int(y[i])],
                "predicted": class_names[predicted],
                "correct": predicted == int(y[i]),
                "image": _to_grid(pixels),
                "saliency": _to_grid(grad[0].abs().amax(dim=0)),
            }
        )
    return {"method": "gradient", "items": items}
