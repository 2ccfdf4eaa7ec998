"""The fitted feature transform against scikit-learn's own pipeline, and against the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from zenopt.core.config import DataConfig
from zenopt.core.errors import ConfigError
from zenopt.data import TargetScaler
from zenopt.data.prepare import fit_imputer
from zenopt.data.transform import fit_feature_transform
from zenopt.models.input_transform import InputTransform

SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


def _data(n: int = 120, f: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(2.0, 3.0, size=(n, f)).astype(np.float32)
    X[:, 3] = 5.0  # a constant column
    X[rng.random((n, f)) < 0.05] = np.nan
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) > 4).astype(np.int64)
    return X, y


def _fit(config: DataConfig, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(zenopt's NumPy transform, the exported torch layer) on the training rows."""
    fill = fit_imputer(X, config.impute, config.impute_value)
    names = [f"f{i}" for i in range(X.shape[1])]
    ft = fit_feature_transform(X, y, "table", "binary", config, names, seed=0, fill=fill)
    with torch.no_grad():
        layer = InputTransform(ft.arrays)(torch.from_numpy(X)).numpy()
    return ft.apply(X), layer


@pytest.mark.parametrize("scale", ["standard", "minmax", "robust"])
@pytest.mark.parametrize("impute", ["mean", "median", "most_frequent"])
def test_impute_and_scale_match_sklearn(scale: str, impute: str) -> None:
    X, y = _data()
    ours, layer = _fit(DataConfig(impute=impute, scale=scale), X, y)  # type: ignore[arg-type]
    ref = make_pipeline(SimpleImputer(strategy=impute, keep_empty_features=True), SCALERS[scale]())
    expected = ref.fit_transform(X)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer, ours, rtol=1e-6, atol=1e-6)


@pytest.mark.filterwarnings("ignore:Features .* are constant:UserWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
def test_select_and_pca_match_sklearn() -> None:  # the reference warns on the constant column
    X, y = _data(200, 8)
    config = DataConfig(impute="median", select="kbest_f", select_k=4, pca=3)
    ours, layer = _fit(config, X, y)
    ref = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        SelectKBest(f_classif, k=4),
        PCA(3, random_state=0),
    )
    expected = ref.fit_transform(X, y)
    # PCA components are defined up to sign; compare each column up to its sign
    signs = np.sign((ours * expected).sum(axis=0))
    np.testing.assert_allclose(ours * signs, expected, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(layer, ours, rtol=1e-5, atol=1e-5)


def test_pca_fraction_keeps_enough_variance() -> None:
    X, y = _data(200, 8)
    names = [f"f{i}" for i in range(8)]
    fill = fit_imputer(X, "mean", 0.0)
    ft = fit_feature_transform(X, y, "table", "binary", DataConfig(pca=0.9), names, 0, fill)
    assert ft.pca_explained is not None and ft.pca_explained >= 0.9
    assert ft.apply(X).shape[1] == ft.arrays["pca_components"].shape[0] < 8


def test_variance_threshold_drops_the_constant_column() -> None:
    X, y = _data()
    X = np.nan_to_num(X)
    X[:, 3] = 5.0
    config = DataConfig(select="variance", scale="none")
    ft = fit_feature_transform(X, y, "table", "binary", config, [f"f{i}" for i in range(6)], 0)
    expected = VarianceThreshold(0.0).fit(X).get_support()
    assert ft.selected_features == [f"f{i}" for i in np.flatnonzero(expected)]
    assert "f3" not in ft.selected_features


@pytest.mark.parametrize("method", ["quantile", "zscore"])
def test_clipping_bounds_come_from_training_rows(method: str) -> None:
    X, y = _data()
    X = np.nan_to_num(X)
    X[0, 0] = 1e4  # an outlier
    config = DataConfig(clip=method, scale="none", clip_quantiles=(0.05, 0.95), clip_zscore=2.0)  # type: ignore[arg-type]
    ft = fit_feature_transform(X, y, "table", "binary", config, [f"f{i}" for i in range(6)], 0)
    if method == "quantile":
        np.testing.assert_allclose(ft.arrays["clip_hi"], np.quantile(X, 0.95, axis=0), rtol=1e-5)
    else:
        np.testing.assert_allclose(ft.arrays["clip_hi"], X.mean(0) + 2 * X.std(0), rtol=1e-4)
    assert ft.apply(X)[0, 0] == pytest.approx(float(ft.arrays["clip_hi"][0]))


def test_images_are_scaled_per_channel() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 16, size=(20, 3, 5, 5)).astype(np.float32)
    ft = fit_feature_transform(X, np.zeros(20), "image", "multiclass", DataConfig(), [], 0)
    assert ft.arrays["center"].shape == (3, 1, 1)
    for c in range(3):
        assert ft.arrays["center"][c, 0, 0] == pytest.approx(X[:, c].mean(), rel=1e-5)
        assert ft.arrays["scale"][c, 0, 0] == pytest.approx(X[:, c].std(), rel=1e-5)
    minmax = fit_feature_transform(
        X, np.zeros(20), "image", "multiclass", DataConfig(scale="minmax"), [], 0
    )
    out = minmax.apply(X)
    assert out.min() == pytest.approx(0.0, abs=1e-6) and out.max() == pytest.approx(1.0, abs=1e-6)


def test_table_only_steps_are_rejected_for_images() -> None:
    X = np.zeros((4, 1, 3, 3), np.float32)
    with pytest.raises(ConfigError, match="data.pca=5 applies to tables, not images"):
        fit_feature_transform(X, np.zeros(4), "image", "multiclass", DataConfig(pca=5), [], 0)


def test_target_scaler_inverts() -> None:
    y = np.array([100.0, 150.0, 300.0], dtype=np.float32)
    scaler = TargetScaler().fit(y)
    z = scaler.transform(y)
    assert abs(float(z.mean())) < 1e-6
    np.testing.assert_allclose(scaler.inverse_transform(z), y, rtol=1e-6)
