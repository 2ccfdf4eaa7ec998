"""Per-class requirements: judged on each class's recall/precision as scikit-learn computes
them, named by class, and an unknown class refused before any training."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_score, recall_score

from zenopt.core.config import RequirementsConfig
from zenopt.core.errors import ConfigError
from zenopt.evaluate.metrics import classification_metrics
from zenopt.evaluate.requirements import check_quality, validate_class_targets

CLASSES = ["benign", "malignant", "unsure"]


def test_per_class_checks_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    guess = np.where(rng.random(300) < 0.8, truth, rng.integers(0, 3, 300))
    metrics = classification_metrics(truth, guess, CLASSES)
    recall = recall_score(truth, guess, labels=[1], average=None)[0]
    precision = precision_score(truth, guess, labels=[2], average=None)[0]
    req = RequirementsConfig(
        min_class_recall={"malignant": recall - 1e-9},
        min_class_precision={"unsure": precision + 1e-9},
    )
    checks = {c.name: c for c in check_quality(req, metrics, "validation split")}
    assert set(checks) == {"min_class_recall[malignant]", "min_class_precision[unsure]"}
    met, missed = checks["min_class_recall[malignant]"], checks["min_class_precision[unsure]"]
    assert met.measured == pytest.approx(recall) and met.met
    assert missed.measured == pytest.approx(precision) and not missed.met
    assert met.detail == "validation split" and met.kind == "quality"


def test_a_class_absent_from_the_metrics_is_missed_not_met() -> None:
    req = RequirementsConfig(min_class_recall={"benign": 0.5})
    (check,) = check_quality(req, {"accuracy": 1.0})  # regression-like metrics: no per_class
    assert check.measured is None and not check.met


def test_yaml_int_keys_are_class_names() -> None:
    req = RequirementsConfig.model_validate({"min_class_recall": {1: 0.9, 2.0: 0.8}})
    assert req.min_class_recall == {"1": 0.9, "2": 0.8}
    validate_class_targets(req, "multiclass", ["0", "1", "2"])


def test_unknown_class_and_regression_are_refused() -> None:
    req = RequirementsConfig(min_class_precision={"Malignant": 0.9})
    with pytest.raises(ConfigError, match="'Malignant' is not a class of this data; classes: "):
        validate_class_targets(req, "binary", CLASSES[:2])
    with pytest.raises(ConfigError, match="min_class_precision is a classification target"):
        validate_class_targets(req, "regression", [])


def test_a_class_with_no_row_in_the_split_is_not_measured_not_zero() -> None:
    truth, guess = np.array([0, 0, 2, 2]), np.array([0, 0, 2, 0])
    metrics = classification_metrics(truth, guess, CLASSES)  # no "malignant" row at all
    req = RequirementsConfig(min_class_recall={"malignant": 0.5, "unsure": 0.5})
    checks = {c.name: c for c in check_quality(req, metrics, "test split")}
    absent = checks["min_class_recall[malignant]"]
    assert absent.measured is None and not absent.met
    assert absent.detail == "test split: no row of 'malignant' in it"
    assert checks["min_class_recall[unsure]"].measured == pytest.approx(0.5)


def test_yes_and_no_read_as_booleans_by_yaml_name_their_class_again() -> None:
    import yaml

    text = "min_class_recall: {yes: 0.9}\nmin_class_precision: {no: 0.8}"
    req = RequirementsConfig.model_validate(yaml.safe_load(text))
    validate_class_targets(req, "binary", ["no", "yes"])
    assert req.min_class_recall == {"yes": 0.9} and req.min_class_precision == {"no": 0.8}
    odd = RequirementsConfig.model_validate(yaml.safe_load("min_class_recall: {yes: 0.9}"))
    with pytest.raises(ConfigError, match=r"YAML read a class name as true; quote it"):
        validate_class_targets(odd, "binary", ["cat", "dog"])
