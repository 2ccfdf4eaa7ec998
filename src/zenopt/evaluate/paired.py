"""The quality a candidate loses, as a paired comparison with the trained model on the same
rows: the point estimate, a 95% paired-bootstrap interval and, for classification, the rows
the candidate fixed and broke with McNemar's exact p-value.

On a few hundred rows a drop of half a point is one or two samples: the interval and the
p-value say how much of a measured drop is noise. Acceptance compares the point estimate with
the budget (an interval rule would reject nearly every candidate at this size); the interval
and p-value are reported beside it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from zenopt.core.heads import decode_outputs

__all__ = ["DropMode", "mcnemar_exact", "paired_drop", "resolve_drop_mode"]

DropMode = Literal["absolute", "relative"]
# Metrics whose per-row contributions average to the metric, so that a resample's value is a
# mean of the resampled rows (error metrics: lower is better).
_ERRORS = {"mse": np.square, "mae": np.abs}
RESAMPLES = 2000


def resolve_drop_mode(mode: str, metric: str) -> DropMode:
    """``auto``: relative for error metrics (a fraction of the baseline's error, which has the
    target's units squared), absolute points otherwise (accuracy)."""
    if mode == "auto":
        return "relative" if metric in _ERRORS else "absolute"
    return "relative" if mode == "relative" else "absolute"


def mcnemar_exact(fixed: int, broken: int) -> float:
    """McNemar's exact two-sided p-value: a binomial test of the discordant rows at 1/2."""
    if fixed + broken == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(min(fixed, broken), fixed + broken, 0.5).pvalue)


def _per_row(y: np.ndarray, predictions: np.ndarray, metric: str) -> np.ndarray:
    """Each row's contribution to the metric: correct (1/0), or its squared/absolute error."""
    if metric in _ERRORS:
        errors: np.ndarray = np.asarray(_ERRORS[metric](predictions - y), dtype=np.float64)
        return errors
    correct: np.ndarray = (predictions == y).astype(np.float64)
    return correct


def _drop(base: np.ndarray, cand: np.ndarray, higher: bool, mode: DropMode) -> np.ndarray:
    """Drop per resample (rows of means): points lost, or a fraction of the baseline's value;
    negative when the candidate is better."""
    lost: np.ndarray = base - cand if higher else cand - base
    if mode == "absolute":
        return lost
    scale = np.abs(base)
    relative: np.ndarray = np.divide(lost, scale, out=np.zeros_like(lost), where=scale > 0)
    return relative


def paired_drop(
    y: np.ndarray,
    baseline_outputs: np.ndarray,
    candidate_outputs: np.ndarray,
    head: str,
    metric: str,
    mode: DropMode,
    seed: int = 0,
) -> dict[str, Any]:
    """The candidate's drop on ``metric`` against the baseline, on the same rows of ``y``.

    ``drop`` is 0 when the candidate is as good or better (the budget's reading);
    ``interval`` is the 2.5th–97.5th percentile of the signed drop over paired bootstrap
    resamples (the same rows for both models in each resample)."""
    higher = metric not in _ERRORS
    base = _per_row(y, decode_outputs(baseline_outputs, head), metric)
    cand = _per_row(y, decode_outputs(candidate_outputs, head), metric)
    n = len(base)
    point = float(_drop(np.array([base.mean()]), np.array([cand.mean()]), higher, mode)[0])
    rows = np.random.default_rng(seed).integers(0, n, size=(RESAMPLES, n))
    spread = _drop(base[rows].mean(axis=1), cand[rows].mean(axis=1), higher, mode)
    low, high = np.percentile(spread, [2.5, 97.5])
    out: dict[str, Any] = {
        "metric": metric,
        "mode": mode,
        "n": n,
        "baseline": float(base.mean()),
        "candidate": float(cand.mean()),
        "drop": max(0.0, point),
        "signed_drop": point,
        "interval": [float(low), float(high)],
        "resamples": RESAMPLES,
    }
    if not higher:
        return out
    fixed = int(np.sum((base == 0) & (cand == 1)))
    broken = int(np.sum((base == 1) & (cand == 0)))
    return {**out, "fixed": fixed, "broken": broken, "mcnemar_p": mcnemar_exact(fixed, broken)}
