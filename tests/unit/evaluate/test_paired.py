"""The paired comparison of a candidate with the trained model, against SciPy: McNemar's exact
test is a binomial test on the discordant rows, and the interval a paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from zenopt.evaluate.paired import mcnemar_exact, paired_drop, resolve_drop_mode


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=np.float32)[labels]


def _classifiers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    base = np.where(rng.random(n) < 0.9, y, (y + 1) % 3)
    cand = np.where(rng.random(n) < 0.85, y, (y + 2) % 3)
    return y, _one_hot(base, 3), _one_hot(cand, 3)


@pytest.mark.parametrize(("fixed", "broken"), [(0, 0), (1, 6), (7, 7), (2, 30), (15, 3)])
def test_mcnemar_exact_is_the_two_sided_binomial_tail_of_the_discordant_rows(
    fixed: int, broken: int
) -> None:
    n = fixed + broken
    # The reference: twice the lower tail of Binomial(n, 1/2) at the smaller count, at most 1.
    expected = 1.0 if n == 0 else min(1.0, 2 * stats.binom.cdf(min(fixed, broken), n, 0.5))
    assert mcnemar_exact(fixed, broken) == pytest.approx(expected, rel=1e-9)


def test_fixed_broken_and_accuracy_drop_are_counted_from_the_rows() -> None:
    y, base, cand = _classifiers(400, 0)
    out = paired_drop(y, base, cand, "softmax", "accuracy", "absolute")
    right_b, right_c = base.argmax(1) == y, cand.argmax(1) == y
    assert out["fixed"] == int(np.sum(~right_b & right_c))
    assert out["broken"] == int(np.sum(right_b & ~right_c))
    assert out["signed_drop"] == pytest.approx(right_b.mean() - right_c.mean())
    assert out["drop"] == max(0.0, out["signed_drop"])
    assert out["mcnemar_p"] == pytest.approx(
        stats.binomtest(min(out["fixed"], out["broken"]), out["fixed"] + out["broken"]).pvalue
    )


def test_the_interval_is_scipy_s_paired_percentile_bootstrap() -> None:
    y, base, cand = _classifiers(300, 1)
    out = paired_drop(y, base, cand, "softmax", "accuracy", "absolute", seed=3)
    right_b = (base.argmax(1) == y).astype(float)
    right_c = (cand.argmax(1) == y).astype(float)
    reference = stats.bootstrap(
        (right_b, right_c),
        lambda b, c, axis: b.mean(axis=axis) - c.mean(axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=20000,
        method="percentile",
        random_state=0,
    ).confidence_interval
    # Two Monte Carlo estimates of the same percentiles: within a third of a sample's weight.
    assert out["interval"][0] == pytest.approx(reference.low, abs=1 / 300)
    assert out["interval"][1] == pytest.approx(reference.high, abs=1 / 300)


def test_regression_drop_is_relative_mse_under_auto() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=200)
    base = (y + rng.normal(scale=0.5, size=200)).reshape(-1, 1)
    cand = (y + rng.normal(scale=0.6, size=200)).reshape(-1, 1)
    mode = resolve_drop_mode("auto", "mse")
    out = paired_drop(y, base, cand, "identity", "mse", mode)
    mse_b = np.mean((base[:, 0] - y) ** 2)
    mse_c = np.mean((cand[:, 0] - y) ** 2)
    assert mode == "relative" and "mcnemar_p" not in out
    assert out["signed_drop"] == pytest.approx((mse_c - mse_b) / mse_b)
    assert resolve_drop_mode("auto", "accuracy") == "absolute"
    assert resolve_drop_mode("relative", "accuracy") == "relative"


@settings(max_examples=30, deadline=None)
@given(st.integers(5, 80), st.integers(0, 10_000))
def test_the_interval_holds_the_point_estimate_and_identical_models_lose_nothing(
    n: int, seed: int
) -> None:
    y, base, cand = _classifiers(n, seed)
    out = paired_drop(y, base, cand, "softmax", "accuracy", "absolute", seed=seed)
    low, high = out["interval"]
    assert low <= out["signed_drop"] + 1e-12 and out["signed_drop"] <= high + 1e-12
    same = paired_drop(y, base, base, "softmax", "accuracy", "absolute")
    assert same["drop"] == 0 and same["interval"] == [0.0, 0.0] and same["mcnemar_p"] == 1.0
