from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zenopt.core.errors import ModelError
from zenopt.models import DeployableModel, ModelSpec, build_model, load_deployable, save_deployable


def _model(scale_output: bool = False) -> tuple[DeployableModel, ModelSpec]:
    torch.manual_seed(0)
    net = build_model("mlp", (3,), 1 if scale_output else 2, {"hidden": [4]})
    mean, std = np.array([1.0, 2.0, 3.0], np.float32), np.array([2.0, 0.5, 1.0], np.float32)
    model = DeployableModel(
        net, mean, std, 10.0 if scale_output else 0.0, 5.0 if scale_output else 1.0
    )
    spec = ModelSpec(
        "mlp",
        {"hidden": [4]},
        (3,),
        1 if scale_output else 2,
        "identity" if scale_output else "softmax",
        "regression" if scale_output else "binary",
    )
    return model.eval(), spec


def test_forward_applies_saved_standardisation_and_output_scale() -> None:
    model, _ = _model(scale_output=True)
    x = torch.randn(5, 3)
    expected = (
        model.net((x - torch.tensor([1.0, 2.0, 3.0])) / torch.tensor([2.0, 0.5, 1.0])) * 5 + 10
    )
    torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("scale_output", [False, True])
def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path, scale_output: bool) -> None:
    model, spec = _model(scale_output)
    paths = save_deployable(model, spec, tmp_path)
    assert paths["safetensors"].read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    again, spec_again = load_deployable(tmp_path)
    assert spec_again == spec
    x = torch.randn(7, 3)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="model spec not found"):
        load_deployable(tmp_path)
    model, spec = _model()
    save_deployable(model, spec, tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="weights not found"):
        load_deployable(tmp_path)
