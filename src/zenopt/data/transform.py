"""The feature transform fitted on the training split: impute → clip → scale → select → PCA.

Each step is fitted with scikit-learn (or NumPy where scikit-learn has no such step) on the
training rows only and reduced to plain arrays. The same arrays drive :meth:`apply` (NumPy, for
training) and the exported model's input layer (``zenopt.models.input_transform``), so that
inference applies exactly the transform training saw. Images take the scale step only, per
channel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zenopt.core.config import DataConfig
from zenopt.core.errors import ConfigError

__all__ = ["FeatureTransform", "fit_feature_transform"]


@dataclass
class FeatureTransform:
    """Fitted arrays of each step; a step that is off has no arrays."""

    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    selected_features: list[str] | None = None
    pca_explained: float | None = None

    def apply(self, X: np.ndarray) -> np.ndarray:
        a = self.arrays
        if "fill" in a:
            X = np.where(np.isnan(X), a["fill"], X)
        if "clip_lo" in a:
            X = np.clip(X, a["clip_lo"], a["clip_hi"])
        if "center" in a:
            X = (X - a["center"]) / a["scale"]
        if "select" in a:
            X = X[:, a["select"]]
        if "pca_mean" in a:
            X = (X - a["pca_mean"]) @ a["pca_components"].T
        return np.asarray(X, dtype=np.float32)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "steps": [
                k for k in ("fill", "clip_lo", "center", "select", "pca_mean") if k in self.arrays
            ]
        }
        if self.selected_features is not None:
            out["selected_features"] = self.selected_features
        if self.pca_explained is not None:
            out["pca_components"] = int(self.arrays["pca_components"].shape[0])
            out["pca_explained_variance"] = self.pca_explained
        return out


def _scaler(method: str) -> Any:
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    return {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}[method]()


def _center_scale(method: str, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) with X' = (X - center) / scale, as the scikit-learn scaler computes."""
    fitted = _scaler(method).fit(X.astype(np.float64))
    if method == "standard":
        center, scale = fitted.mean_, fitted.scale_
    elif method == "minmax":
        center, scale = fitted.data_min_, fitted.data_range_
    else:
        center, scale = fitted.center_, fitted.scale_
    scale = np.where(scale > 1e-12, scale, 1.0)
    return center.astype(np.float32), scale.astype(np.float32)


def _selector(config: DataConfig, task: str, n_features: int, seed: int) -> Any:
    from sklearn.feature_selection import (
        SelectFromModel,
        SelectKBest,
        VarianceThreshold,
        f_classif,
        f_regression,
        mutual_info_classif,
        mutual_info_regression,
    )

    k = min(config.select_k, n_features)
    regression = task == "regression"
    if config.select == "variance":
        return VarianceThreshold(config.variance_threshold)
    if config.select == "kbest_f":
        return SelectKBest(f_regression if regression else f_classif, k=k)
    if config.select == "kbest_mi":

        def score(X: np.ndarray, y: np.ndarray) -> np.ndarray:
            fn = mutual_info_regression if regression else mutual_info_classif
            return fn(X, y, random_state=seed)  # type: ignore[no-any-return]

        return SelectKBest(score, k=k)
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    trees = (ExtraTreesRegressor if regression else ExtraTreesClassifier)(
        n_estimators=100, random_state=seed
    )
    return SelectFromModel(trees, max_features=k, threshold=-np.inf)


def _check_image_steps(config: DataConfig) -> None:
    for key, off in (("clip", "none"), ("select", "none"), ("pca", None)):
        if getattr(config, key) != off:
            raise ConfigError(
                f"data.{key}={getattr(config, key)!r} applies to tables, not images; remove it"
            )


def fit_feature_transform(
    X: np.ndarray,
    y: np.ndarray,
    kind: str,
    task: str,
    config: DataConfig,
    feature_names: list[str],
    seed: int,
    fill: np.ndarray | None = None,
) -> FeatureTransform:
    """Fit every configured step on the training rows ``X``/``y``, in the flow's order."""
    ft = FeatureTransform()
    if kind == "image":
        _check_image_steps(config)
        if config.scale != "none":
            channels = X.shape[1]
            pixels = np.moveaxis(X, 1, -1).reshape(-1, channels)
            center, scale = _center_scale(config.scale, pixels)
            shape = (channels,) + (1,) * (X.ndim - 2)
            ft.arrays["center"], ft.arrays["scale"] = center.reshape(shape), scale.reshape(shape)
        return ft
    # 1. impute (fitted by the caller, on the same training rows)
    if fill is not None:
        ft.arrays["fill"] = fill.astype(np.float32)
    current = ft.apply(X)
    # 2. clip outliers to bounds learned from the training rows
    if config.clip == "quantile":
        low, high = config.clip_quantiles
        ft.arrays["clip_lo"] = np.quantile(current, low, axis=0).astype(np.float32)
        ft.arrays["clip_hi"] = np.quantile(current, high, axis=0).astype(np.float32)
    elif config.clip == "zscore":
        mean, std = current.mean(axis=0), current.std(axis=0)
        ft.arrays["clip_lo"] = (mean - config.clip_zscore * std).astype(np.float32)
        ft.arrays["clip_hi"] = (mean + config.clip_zscore * std).astype(np.float32)
    current = ft.apply(X)
    unscaled = current
    # 3. scale
    if config.scale != "none":
        ft.arrays["center"], ft.arrays["scale"] = _center_scale(config.scale, current)
        current = ft.apply(X)
    # 4. select features
    if config.select != "none":
        # variance is judged on the unscaled values (after scaling every column has variance 1)
        fit_on = unscaled if config.select == "variance" else current
        with warnings.catch_warnings():
            # constant columns give NaN F-scores; they rank last, which is what we want
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=RuntimeWarning)
            selector = _selector(config, task, current.shape[1], seed).fit(fit_on, y)
        keep = np.flatnonzero(selector.get_support()).astype(np.int64)
        if keep.size == 0:
            raise ConfigError(
                f"data.select={config.select!r} kept no feature; lower data.variance_threshold"
            )
        ft.arrays["select"] = keep
        ft.selected_features = [feature_names[i] for i in keep]
        current = ft.apply(X)
    # 5. PCA: a count of components, or the fraction of variance to keep
    if config.pca is not None:
        from sklearn.decomposition import PCA

        most = min(current.shape)
        if isinstance(config.pca, int) and config.pca > most:
            raise ConfigError(
                f"data.pca={config.pca}: PCA can give at most {most} components here "
                f"({current.shape[1]} features, {current.shape[0]} training rows); use fewer"
            )
        pca = PCA(n_components=config.pca, random_state=seed).fit(current)
        ft.arrays["pca_mean"] = pca.mean_.astype(np.float32)
        ft.arrays["pca_components"] = pca.components_.astype(np.float32)
        ft.pca_explained = float(pca.explained_variance_ratio_.sum())
    return ft
