"""Categorical columns to numbers, with categories learned from the training split only.

One-hot: one 0/1 column per training category; a category never seen in training (at test time
or in production) gets all zeros. Ordinal: the category's index in the training categories
(most frequent first), -1 when unseen. A missing cell is its own category, ``(missing)``.
The fitted encoder is plain JSON, saved with the model and applied again by ``zenopt predict``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["MISSING_CATEGORY", "CategoricalEncoder"]

MISSING_CATEGORY = "(missing)"


@dataclass
class CategoricalEncoder:
    method: Literal["onehot", "ordinal"] = "onehot"
    categories_: dict[str, list[str]] = field(default_factory=dict)

    def fit(self, columns: dict[str, np.ndarray]) -> CategoricalEncoder:
        self.categories_ = {}
        for name, column in columns.items():
            counts = Counter(MISSING_CATEGORY if v is None else str(v) for v in column)
            # most frequent first, ties by name, so the encoding does not depend on row order
            self.categories_[name] = [
                c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            ]
        return self

    def feature_names(self) -> list[str]:
        if self.method == "ordinal":
            return list(self.categories_)
        return [f"{name}={c}" for name, cats in self.categories_.items() for c in cats]

    def transform(self, columns: dict[str, np.ndarray], rows: int) -> np.ndarray:
        """Encoded float32 matrix, columns in :meth:`feature_names` order."""
        parts = []
        for name, cats in self.categories_.items():
            index = {c: i for i, c in enumerate(cats)}
            codes = np.asarray(
                [index.get(MISSING_CATEGORY if v is None else str(v), -1) for v in columns[name]],
                dtype=np.int64,
            )
            if self.method == "ordinal":
                parts.append(codes.astype(np.float32).reshape(-1, 1))
            else:
                onehot = np.zeros((len(codes), len(cats)), dtype=np.float32)
                known = codes >= 0
                onehot[np.flatnonzero(known), codes[known]] = 1.0
                parts.append(onehot)
        if not parts:
            return np.empty((rows, 0), dtype=np.float32)
        return np.concatenate(parts, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "categories": self.categories_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalEncoder:
        return cls(
            method=data["method"], categories_={k: list(v) for k, v in data["categories"].items()}
        )
