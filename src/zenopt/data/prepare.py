"""Preprocessing fitted on the training split only.

``prepare`` encodes categorical columns (categories from the training split) and fits the
feature transform (impute → clip → scale → select → PCA) on the training rows. The splits it
returns are the model's raw input (numeric + encoded, NaN where missing); the transform is
applied by the exported model itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.data.dataset import Dataset, Split, Splits
from zenopt.data.encode import CategoricalEncoder
from zenopt.data.transform import FeatureTransform, fit_feature_transform

__all__ = ["Prepared", "fit_imputer", "prepare"]


@dataclass
class Prepared:
    splits: Splits  # model-input features: numeric + encoded categorical, NaN where missing
    feature_names: list[str]
    encoder: CategoricalEncoder
    transform: FeatureTransform

    def model_input(self, X: np.ndarray) -> np.ndarray:
        """What the network sees during training: the fitted transform applied."""
        return self.transform.apply(X)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.feature_names,
            "encoder": self.encoder.to_dict(),
            "transform": self.transform.summary(),
        }


def fit_imputer(X: np.ndarray, strategy: str, value: float) -> np.ndarray:
    """Per-column fill values from the training rows, as scikit-learn's SimpleImputer."""
    from sklearn.impute import SimpleImputer

    imputer = SimpleImputer(strategy=strategy, fill_value=value, keep_empty_features=True)
    return np.asarray(imputer.fit(X.astype(np.float64)).statistics_, dtype=np.float32)


def prepare(dataset: Dataset, splits: Splits, config: DataConfig, seed: int = 0) -> Prepared:
    encoder = CategoricalEncoder(config.encode).fit(splits.train.categorical)

    def encoded(part: Split) -> Split:
        if not encoder.categories_:
            return part
        codes = encoder.transform(part.categorical, len(part))
        X = np.concatenate([part.X, codes], axis=1).astype(np.float32)
        return replace(part, X=X)

    train = encoded(splits.train)
    ready = Splits(train, encoded(splits.val), encoded(splits.test))
    names = dataset.feature_names + encoder.feature_names()
    fill = None
    if config.impute != "none" and dataset.kind == "table":
        fill = fit_imputer(train.X, config.impute, config.impute_value)
    transform = fit_feature_transform(
        train.X, train.y, dataset.kind, dataset.task, config, names, seed, fill
    )
    return Prepared(ready, names, encoder, transform)
