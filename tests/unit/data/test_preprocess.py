from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler

from zenopt.data import Standardizer, TargetScaler


def test_table_standardizer_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(50, 4)).astype(np.float32)
    X[:, 2] = 7.0  # constant column
    ours = Standardizer().fit(X, "table")
    ref = StandardScaler().fit(X)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), atol=1e-5)


def test_image_standardizer_uses_one_mean_per_channel() -> None:
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 16, size=(20, 3, 5, 5)).astype(np.float32)
    scaler = Standardizer().fit(X, "image")
    assert scaler.mean_ is not None and scaler.mean_.shape == (3, 1, 1)
    for c in range(3):
        assert scaler.mean_[c, 0, 0] == np.float32(X[:, c].mean(dtype=np.float64))
        assert np.isclose(scaler.std_[c, 0, 0], X[:, c].std(dtype=np.float64))  # type: ignore[index]
    out = scaler.transform(X)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)


def test_standardizer_round_trips_through_dict() -> None:
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    scaler = Standardizer().fit(X, "table")
    again = Standardizer.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(X), scaler.transform(X))


def test_none_method_is_identity() -> None:
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_array_equal(Standardizer("none").fit(X, "table").transform(X), X)


def test_target_scaler_inverts() -> None:
    y = np.array([100.0, 150.0, 300.0], dtype=np.float32)
    scaler = TargetScaler().fit(y)
    z = scaler.transform(y)
    assert abs(float(z.mean())) < 1e-6
    np.testing.assert_allclose(scaler.inverse_transform(z), y, rtol=1e-6)
