"""Test suites shared by zenopt's extension points (like ``optuna.testing``)."""

from zenopt.testing.technique_suite import (
    SMALL_RUN,
    Applied,
    TechniqueCase,
    TrainedModel,
    apply_case,
    check_bad_settings,
    check_deterministic,
    check_output_shape,
    check_quality,
    check_round_trip,
    train_small_model,
)

__all__ = [
    "SMALL_RUN",
    "Applied",
    "TechniqueCase",
    "TrainedModel",
    "apply_case",
    "check_bad_settings",
    "check_deterministic",
    "check_output_shape",
    "check_quality",
    "check_round_trip",
    "train_small_model",
]
