"""One small trained CNN shared by the compression tests (trained in a few seconds)."""

from __future__ import annotations

import pytest

from zenopt.testing import TrainedModel, train_small_model


@pytest.fixture(scope="session")
def trained() -> TrainedModel:
    return train_small_model()
