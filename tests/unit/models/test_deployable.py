from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zenopt.core.errors import ModelError
from zenopt.data.transform import FeatureTransform
from zenopt.models import DeployableModel, ModelSpec, build_model, load_deployable, save_deployable
from zenopt.models.input_transform import InputTransform

ARRAYS = {
    "fill": np.array([0.5, -1.0, 2.0], np.float32),
    "clip_lo": np.array([-3.0, -3.0, -3.0], np.float32),
    "clip_hi": np.array([3.0, 3.0, 3.0], np.float32),
    "center": np.array([1.0, 2.0, 3.0], np.float32),
    "scale": np.array([2.0, 0.5, 1.0], np.float32),
    "select": np.array([0, 2], np.int64),
    "pca_mean": np.array([0.1, -0.2], np.float32),
    "pca_components": np.array([[0.6, 0.8], [-0.8, 0.6]], np.float32),
}


def _model(scale_output: bool = False) -> tuple[DeployableModel, ModelSpec]:
    torch.manual_seed(0)
    net = build_model("mlp", (2,), 1 if scale_output else 2, {"hidden": [4]})
    model = DeployableModel(
        net, InputTransform(ARRAYS), 10.0 if scale_output else 0.0, 5.0 if scale_output else 1.0
    )
    spec = ModelSpec(
        "mlp",
        {"hidden": [4]},
        (3,),
        1 if scale_output else 2,
        "identity" if scale_output else "softmax",
        "regression" if scale_output else "binary",
        net_input_shape=(2,),
    )
    return model.eval(), spec


def test_forward_applies_the_fitted_transform_and_output_scale() -> None:
    model, _ = _model(scale_output=True)
    x = np.array([[np.nan, 2.5, 100.0], [1.0, np.nan, -7.0]], np.float32)
    expected = FeatureTransform(dict(ARRAYS)).apply(x)  # the NumPy reference used in training
    with torch.no_grad():
        got = model.transform(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        out = model(torch.from_numpy(x))
        torch.testing.assert_close(out, model.net(torch.from_numpy(expected)) * 5 + 10)


@pytest.mark.parametrize("scale_output", [False, True])
def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path, scale_output: bool) -> None:
    model, spec = _model(scale_output)
    paths = save_deployable(model, spec, tmp_path)
    assert paths["safetensors"].read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    again, spec_again = load_deployable(tmp_path)
    assert spec_again == spec
    x = torch.randn(7, 3)
    x[0, 1] = float("nan")
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
