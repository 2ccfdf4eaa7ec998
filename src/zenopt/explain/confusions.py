"""Per-class errors read from a confusion matrix: which classes fail, and as what."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["confusions"]


def confusions(matrix: list[list[int]], class_names: list[str], top: int = 10) -> dict[str, Any]:
    """Error rate per true class and the most frequent (true → predicted) mistakes.

    ``matrix[i][j]`` counts samples of true class ``i`` predicted as ``j`` (scikit-learn's
    ``confusion_matrix`` layout)."""
    cm = np.asarray(matrix, dtype=np.int64)
    support = cm.sum(axis=1)
    correct = np.diag(cm)
    per_class = [
        {
            "class": class_names[i],
            "support": int(support[i]),
            "errors": int(support[i] - correct[i]),
            "error_rate": float((support[i] - correct[i]) / support[i]) if support[i] else 0.0,
        }
        for i in range(cm.shape[0])
    ]
    off = cm.copy()
    np.fill_diagonal(off, 0)
    pairs = [
        {
            "true": class_names[i],
            "predicted": class_names[j],
            "count": int(off[i, j]),
            "share_of_true": float(off[i, j] / support[i]),
        }
        for i, j in zip(*np.nonzero(off), strict=True)
    ]
    pairs.sort(key=lambda p: (-p["count"], p["true"], p["predicted"]))
    return {
        "errors": int(off.sum()),
        "samples": int(cm.sum()),
        "per_class": sorted(per_class, key=lambda r: (-r["error_rate"], r["class"])),
        "pairs": pairs[:top],
    }
