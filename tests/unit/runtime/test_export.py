from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from zenopt.core.errors import ExportError, RuntimeBackendError
from zenopt.models import DeployableModel, ModelSpec, build_model, save_deployable
from zenopt.models.input_transform import InputTransform
from zenopt.runtime import backend_names, create_predictor
from zenopt.runtime.export import ATOL, export_onnx, verify_export


def _deployable(name: str, shape: tuple[int, ...], outputs: int, seed: int = 0) -> DeployableModel:
    torch.manual_seed(seed)
    net = build_model(name, shape, outputs, {})
    mean = np.full((shape[0], 1, 1) if len(shape) == 3 else shape, 0.5, np.float32)
    transform = InputTransform({"center": mean, "scale": np.full_like(mean, 2.0)})
    return DeployableModel(net, transform).eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[DeployableModel, Path]:
    model = _deployable("mnist_cnn", (1, 12, 12), 10)
    path = export_onnx(model, (1, 12, 12), tmp_path_factory.mktemp("onnx") / "model.onnx")
    return model, path


def test_export_is_one_valid_file_with_a_dynamic_batch(
    exported: tuple[DeployableModel, Path],
) -> None:
    _, path = exported
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert not list(path.parent.glob("*.data"))  # weights inside, no external data
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.dim_value


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_onnxruntime_matches_torch_at_any_batch(
    exported: tuple[DeployableModel, Path], batch: int
) -> None:
    model, path = exported
    x = np.random.default_rng(batch).normal(0, 3, (batch, 1, 12, 12)).astype(np.float32)
    ort = create_predictor("onnxruntime")
    ort.load(path, 1)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ort.predict(x), expected, atol=ATOL, rtol=1e-4)


def test_verify_export_reports_the_difference(exported: tuple[DeployableModel, Path]) -> None:
    model, path = exported
    x = np.random.default_rng(0).normal(size=(20, 1, 12, 12)).astype(np.float32)
    check = verify_export(model, path, x, "softmax")
    assert check.ok and check.samples == 20 + 8 and check.max_abs_diff <= ATOL


def test_verify_export_fails_loudly_when_runtimes_disagree(
    exported: tuple[DeployableModel, Path],
) -> None:
    _, path = exported
    other = _deployable("mnist_cnn", (1, 12, 12), 10, seed=99)
    x = np.random.default_rng(0).normal(size=(20, 1, 12, 12)).astype(np.float32)
    with pytest.raises(ExportError, match="does not reproduce PyTorch"):
        verify_export(other, path, x, "softmax")


def test_torch_backend_loads_safetensors_and_matches(tmp_path: Path) -> None:
    model = _deployable("mlp", (5,), 3)
    spec = ModelSpec("mlp", {}, (5,), 3, "softmax", "multiclass", ["a", "b", "c"])
    paths = save_deployable(model, spec, tmp_path)
    predictor = create_predictor("torch")
    before = torch.get_num_threads()
    predictor.load(paths["spec"], 1)
    assert torch.get_num_threads() == 1
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(predictor.predict(x), model(torch.from_numpy(x)).numpy())
    predictor.close()
    assert torch.get_num_threads() == before  # the process-wide setting is put back


def test_backends_by_name() -> None:
    assert backend_names() == ["torch", "onnxruntime", "torch_compile"]
    with pytest.raises(
        RuntimeBackendError,
        match="backend 'tensorrt' is unknown; choose from: torch, onnxruntime, torch_compile",
    ):
        create_predictor("tensorrt")


def test_onnxruntime_rejects_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(RuntimeBackendError, match="ONNX Runtime cannot load it"):
        create_predictor("onnxruntime").load(bad, 1)


def test_the_operator_registry_is_reused_and_torch_left_as_it_was(tmp_path: Path) -> None:
    """zenopt builds torch's ATen→ONNX registry once per process (0.9 s per export saved); the
    file is byte for byte what torch.onnx.export writes on its own, and torch's own export
    path is restored after each call."""
    import contextlib
    import io

    from torch.onnx._internal.exporter._registration import ONNXRegistry

    from zenopt.runtime import export

    original = ONNXRegistry.__dict__["from_torchlib"]
    model = _deployable("mnist_cnn", (1, 12, 12), 10)
    ours = [export_onnx(model, (1, 12, 12), tmp_path / f"{i}.onnx").read_bytes() for i in (0, 1)]
    assert ONNXRegistry.__dict__["from_torchlib"] is original
    assert list(export._REGISTRIES) == [export.OPSET]
    reference = tmp_path / "torch.onnx"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        torch.onnx.export(
            model,
            (torch.zeros((2, 1, 12, 12)),),
            str(reference),
            input_names=["input"],
            output_names=["output"],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
            opset_version=export.OPSET,
            dynamo=True,
            external_data=False,
        )
    assert ours[0] == ours[1] == reference.read_bytes()
    # Each export gets its own copy: what one adds to its registry, the next never sees.
    with export._reused_operator_registry():
        first = ONNXRegistry.from_torchlib(opset_version=export.OPSET)
        first.functions.clear()
        second = ONNXRegistry.from_torchlib(opset_version=export.OPSET)
    assert second.functions and second is not first
    assert ONNXRegistry.__dict__["from_torchlib"] is original
