"""Preprocessing fitted on the training split only: encoding, imputation, standardisation.

``prepare`` returns the splits as the model's input sees them (categorical columns encoded,
missing values still NaN) plus the fitted pieces. Imputation and standardisation are baked into
the exported model, so the ONNX file accepts NaN for a missing value and applies the training
split's statistics; the categorical encoder is JSON saved next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.data.dataset import Dataset, Split, Splits
from zenopt.data.encode import CategoricalEncoder
from zenopt.data.preprocess import Standardizer

__all__ = ["Prepared", "fit_imputer", "prepare"]


@dataclass
class Prepared:
    splits: Splits  # model-input features: numeric + encoded categorical, NaN where missing
    feature_names: list[str]
    encoder: CategoricalEncoder
    fill: np.ndarray | None  # per-feature fill value for NaN, None when nothing is imputed
    scaler: Standardizer

    def impute(self, X: np.ndarray) -> np.ndarray:
        if self.fill is None:
            return X
        return np.where(np.isnan(X), self.fill, X).astype(np.float32)

    def model_input(self, X: np.ndarray) -> np.ndarray:
        """What the network sees during training: imputed, then standardised."""
        return self.scaler.transform(self.impute(X))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.feature_names,
            "encoder": self.encoder.to_dict(),
            "impute": None if self.fill is None else self.fill.tolist(),
            "input": self.scaler.to_dict(),
        }


def fit_imputer(X: np.ndarray, strategy: str, value: float) -> np.ndarray:
    """Per-column fill values from the training rows, as scikit-learn's SimpleImputer."""
    from sklearn.impute import SimpleImputer

    imputer = SimpleImputer(strategy=strategy, fill_value=value, keep_empty_features=True).fit(
        X.astype(np.float64)
    )
    return np.asarray(imputer.statistics_, dtype=np.float32)


def prepare(dataset: Dataset, splits: Splits, config: DataConfig) -> Prepared:
    encoder = CategoricalEncoder(config.encode).fit(splits.train.categorical)

    def encoded(part: Split) -> Split:
        if not encoder.categories_:
            return part
        codes = encoder.transform(part.categorical, len(part))
        X = np.concatenate([part.X, codes], axis=1).astype(np.float32)
        return Split(X=X, y=part.y, indices=part.indices, categorical=part.categorical)

    ready = Splits(encoded(splits.train), encoded(splits.val), encoded(splits.test))
    fill = None
    if config.impute != "none" and dataset.kind == "table":
        fill = fit_imputer(ready.train.X, config.impute, config.impute_value)
    prepared = Prepared(
        ready,
        dataset.feature_names + encoder.feature_names(),
        encoder,
        fill,
        Standardizer(config.scale),
    )
    prepared.scaler.fit(prepared.impute(ready.train.X), dataset.kind)
    return prepared
