from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from zenopt.core.errors import ModelError
from zenopt.models import build_model, model_names, resolve_model_name


class PytorchExamplesNet(nn.Module):
    """The reference: pytorch/examples mnist/main.py, written out by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_lists_the_zoo() -> None:
    assert {"mlp", "mnist_cnn", "tf_cnn"} <= set(model_names())


def test_mnist_cnn_matches_the_pytorch_example_at_28x28() -> None:
    model = build_model("mnist_cnn", (1, 28, 28), 10, {})
    assert _params(model) == _params(PytorchExamplesNet()) == 1_199_882
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(32, (3, 3)), (64, (3, 3))]


def test_tf_cnn_matches_the_tensorflow_tutorial_at_28x28() -> None:
    model = build_model("tf_cnn", (1, 28, 28), 10, {})
    # conv 5x5x1x32 + conv 5x5x32x64 + fc 3136x1024 + fc 1024x10, with biases
    expected = (25 * 32 + 32) + (25 * 32 * 64 + 64) + (3136 * 1024 + 1024) + (1024 * 10 + 10)
    assert _params(model) == expected


@pytest.mark.parametrize("name", ["mnist_cnn", "tf_cnn", "mlp"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 16, 12)])
def test_image_models_adapt_to_shape_and_outputs(name: str, shape: tuple[int, ...]) -> None:
    model = build_model(name, shape, 7, {})
    assert model(torch.zeros(3, *shape)).shape == (3, 7)


def test_mlp_hidden_sizes_and_dropout() -> None:
    model = build_model("mlp", (30,), 1, {"hidden": [16, 8, 4], "dropout": 0.0})
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(30, 16), (16, 8), (8, 4), (4, 1)]
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())


def test_cnn_on_a_table_says_what_to_do() -> None:
    with pytest.raises(ModelError, match="needs image input.*use --model mlp"):
        build_model("mnist_cnn", (30,), 2, {})


def test_bad_params_are_named() -> None:
    with pytest.raises(ModelError, match="bad model.params .*allowed: hidden, dropout, width"):
        build_model("mlp", (4,), 3, {"widht": 3})
    with pytest.raises(ModelError, match="dropout must be in"):
        build_model("mlp", (4,), 3, {"dropout": 1.5})


def test_auto_picks_by_data_kind() -> None:
    assert resolve_model_name("auto", "image") == "mnist_cnn"
    assert resolve_model_name("auto", "table") == "mlp"
    assert resolve_model_name("tf_cnn", "image") == "tf_cnn"


def test_user_factory_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_models.py").write_text(
        "from torch import nn\n"
        "def tiny(input_shape, num_outputs, width=5):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], width),"
        " nn.ReLU(), nn.Linear(width, num_outputs))\n"
        "def wrong(input_shape, num_outputs):\n"
        "    return nn.Linear(input_shape[0], num_outputs + 1)\n"
        "def broken(input_shape, num_outputs):\n"
        "    return {}['missing']\n"
    )
    (tmp_path / "my_bad_module.py").write_text("raise NameError('oops at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model("my_models:tiny", (4,), 3, {"width": 6})
    assert model(torch.zeros(2, 4)).shape == (2, 3)
    with pytest.raises(ModelError, match="honour num_outputs"):
        build_model("my_models:wrong", (4,), 3, {})
    with pytest.raises(ModelError, match="has no callable 'nope'"):
        build_model("my_models:nope", (4,), 3, {})
    with pytest.raises(ModelError, match="KeyError: 'missing'"):
        build_model("my_models:broken", (4,), 3, {})
    with pytest.raises(ModelError, match="importing 'my_bad_module' failed with NameError"):
        build_model("my_bad_module:f", (4,), 3, {})
    sys.modules.pop("my_models", None)


@pytest.mark.parametrize("ref", ["no_such_pkg_zz:f", "notazoomodel"])
def test_bad_references(ref: str) -> None:
    with pytest.raises(ModelError, match=ref):
        build_model(ref, (4,), 3, {})


@pytest.mark.parametrize(
    ("params", "sizes"),
    [
        ({"width": 256, "depth": 3}, [256, 128, 64]),
        ({"width": 20, "depth": 4}, [20, 10, 8, 8]),  # halving stops at 8
        ({"width": 5, "depth": 2}, [5, 5]),  # narrower than 8 stays as given
        ({"width": 32}, [32, 16]),  # depth from hidden (two layers)
        ({"depth": 1}, [7]),  # width from hidden's first layer
        ({"width": 64, "depth": 0}, []),  # a linear model
    ],
)
def test_mlp_width_and_depth_replace_hidden(params: dict[str, int], sizes: list[int]) -> None:
    model = build_model("mlp", (30,), 2, {**params, "hidden": [7, 7]})
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears[:-1]] == sizes
    assert linears[-1].out_features == 2
