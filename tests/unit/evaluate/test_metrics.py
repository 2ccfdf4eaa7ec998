from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest
from sklearn import metrics as skm

from zenopt.evaluate import (
    classification_metrics,
    decode_outputs,
    regression_metrics,
    wilson_interval,
)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(min_value=2, max_value=6),
    data=st.data(),
)
def test_classification_metrics_agree_with_sklearn(k: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=80))
    y_true = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    y_pred = np.array(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    names = [f"c{i}" for i in range(k)]
    ours = classification_metrics(y_true, y_pred, names)
    labels = list(range(k))
    assert ours["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    for key, fn in [
        ("precision_macro", skm.precision_score),
        ("recall_macro", skm.recall_score),
        ("f1_macro", skm.f1_score),
    ]:
        ref = fn(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        assert ours[key] == pytest.approx(ref), key
    np.testing.assert_array_equal(
        ours["confusion_matrix"], skm.confusion_matrix(y_true, y_pred, labels=labels)
    )
    per_class = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, name in enumerate(names):
        assert ours["per_class"][name]["recall"] == pytest.approx(per_class[1][i])
        assert ours["per_class"][name]["support"] == per_class[3][i]


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (10, 10), (359, 360), (97, 100), (1, 1)])
def test_wilson_interval_matches_scipy(k: int, n: int) -> None:
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(ref.low, abs=1e-9)
    assert high == pytest.approx(ref.high, abs=1e-9)


def test_accuracy_interval_is_reported_and_contains_accuracy() -> None:
    y = np.array([0, 1, 1, 0, 1, 1, 1, 0])
    p = np.array([0, 1, 0, 0, 1, 1, 1, 1])
    out = classification_metrics(y, p, ["a", "b"])
    low, high = out["accuracy_ci95"]
    assert low < out["accuracy"] < high


def test_regression_metrics_agree_with_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(100, 30, 200)
    p = y + rng.normal(0, 10, 200)
    ours = regression_metrics(y, p)
    assert ours["mse"] == pytest.approx(skm.mean_squared_error(y, p))
    assert ours["mae"] == pytest.approx(skm.mean_absolute_error(y, p))
    assert ours["r2"] == pytest.approx(skm.r2_score(y, p))


def test_decode_outputs() -> None:
    np.testing.assert_array_equal(
        decode_outputs(np.array([[0.1, 2.0], [3.0, 1.0]]), "softmax"), [1, 0]
    )
    np.testing.assert_array_equal(decode_outputs(np.array([[0.3], [-0.2]]), "sigmoid"), [1, 0])
    np.testing.assert_allclose(decode_outputs(np.array([[1.5], [2.5]]), "identity"), [1.5, 2.5])
