"""ONNX models made the way users make them elsewhere, for the tests of ``model.name:
onnx:PATH``: a small residual CNN trained on the bundled 8×8 digits and exported by torch's
exporter (channels-first, or channels-last like a Keras model), and graphs that zenopt must
refuse, each built with onnx.helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["dense_onnx", "digits_cnn", "fit_briefly", "refused_models"]


class _Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(channels)
        self.c2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))


class _ResidualCNN(nn.Module):
    """``normed``: a LayerNorm before the classifier and, in eval mode, a final Softmax
    (probabilities out): LayerNormalization is an operator zenopt's converter lacks."""

    def __init__(self, channels_last: bool, normed: bool = False) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.norm = nn.LayerNorm(32) if normed else None
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU())  # fmt: skip
        self.block = _Block(16)
        self.down = nn.Sequential(nn.Conv2d(16, 32, 3, stride=2, padding=1),
                                  nn.BatchNorm2d(32), nn.ReLU())  # fmt: skip
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = self.down(self.block(self.stem(x))).mean(dim=(2, 3))
        if self.norm is None:
            return self.fc(x)
        scores = self.fc(self.norm(x))  # trained on scores, exported giving probabilities
        return scores if self.training else torch.softmax(scores, dim=1)


def fit_briefly(
    net: nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int, lr: float
) -> nn.Module:
    """Adam on cross-entropy, batches of 64: a classifier trained the plain way, in eval mode
    after."""
    optimizer = torch.optim.Adam(net.parameters(), lr)
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for start in range(0, len(X), 64):
            rows = order[start : start + 64]
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(X[rows]), y[rows]).backward()
            optimizer.step()
    return net.eval()


def digits_cnn(
    path: Path, channels_last: bool = False, epochs: int = 6, normed: bool = False
) -> Path:
    """A residual CNN with BatchNorm trained on the bundled digits (raw 0–16 pixels) and
    exported with a dynamic batch axis (torch's dynamo exporter); ``normed``: with a LayerNorm
    and a final Softmax (see ``_ResidualCNN``)."""
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    digits = load_digits()
    X = digits.images.astype(np.float32)[:, None]
    if channels_last:
        X = np.ascontiguousarray(X.transpose(0, 2, 3, 1))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(digits.target)
    net = fit_briefly(_ResidualCNN(channels_last, normed), Xt, yt, epochs, 3e-3)
    torch.onnx.export(
        net, (Xt[:2],), str(path), input_names=["image"], output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True,
    )  # fmt: skip
    return path


def _model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> Any:
    from onnx import helper

    graph = helper.make_graph(nodes, "refused", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


def refused_models(folder: Path) -> dict[str, tuple[Path, str]]:
    """ONNX files zenopt must refuse for the digits (1×8×8 images, 10 classes), each with a
    phrase its one-line error must hold."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def value(name: str, shape: list[Any]) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    weight = numpy_helper.from_array(np.ones((64, 10), np.float32), "w")
    flat = numpy_helper.from_array(np.array([-1, 64], np.int64), "s")
    dense = [helper.make_node("Reshape", ["x", "s"], ["f"]),
             helper.make_node("MatMul", ["f", "w"], ["y"])]  # fmt: skip
    cases = {
        "two_inputs": (_model([*dense, helper.make_node("Add", ["y", "z"], ["y2"])],
                              [value("x", ["N", 1, 8, 8]), value("z", ["N", 10])],
                              [value("y2", ["N", 10])], [weight, flat]), "has 2 inputs"),
        "fixed_batch": (_model(dense, [value("x", [1, 1, 8, 8])], [value("y", [1, 10])],
                               [weight, flat]), "fixed batch size"),
        "dynamic_side": (_model(dense, [value("x", ["N", 1, "H", 8])], [value("y", ["N", 10])],
                                [weight, flat]), "dynamic axis besides the batch"),
        "wrong_classes": (_model([*dense[:1], helper.make_node("MatMul", ["f", "w5"], ["y"])],
                                 [value("x", ["N", 1, 8, 8])], [value("y", ["N", 5])],
                                 [numpy_helper.from_array(np.ones((64, 5), np.float32), "w5"),
                                  flat]), "gives 5 class scores per row, the data has 10"),
        "wrong_size": (_model([helper.make_node("Reshape", ["x", "s16"], ["f"]),
                               helper.make_node("MatMul", ["f", "w16"], ["y"])],
                              [value("x", ["N", 1, 16, 16])], [value("y", ["N", 10])],
                              [numpy_helper.from_array(np.ones((256, 10), np.float32), "w16"),
                               numpy_helper.from_array(np.array([-1, 256], np.int64), "s16")]),
                       "set data.resize=16"),
        "double_input": (_model(dense, [helper.make_tensor_value_info(
                                 "x", TensorProto.DOUBLE, ["N", 1, 8, 8])],
                                [value("y", ["N", 10])], [weight, flat]),
                         "is DOUBLE; zenopt feeds float32"),
    }  # fmt: skip
    out = {}
    for name, (model, phrase) in cases.items():
        path = folder / f"{name}.onnx"
        onnx.save(model, str(path))
        out[name] = (path, phrase)
    (folder / "damaged.onnx").write_bytes(b"\x08\x01garbage")
    out["damaged"] = (folder / "damaged.onnx", "not a readable ONNX model")
    out["missing"] = (folder / "nowhere.onnx", "no such file")
    return out


def dense_onnx(path: Path, features: int = 32, outputs: int = 8) -> Path:
    """One MatMul with a dynamic batch, for the profiling tests."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((features, outputs)).astype(np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", outputs])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path
