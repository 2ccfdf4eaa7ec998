"""The deployable model: fitted preprocessing + network + output scaling, in one module.

Baking the training-split statistics into the module means the exported ONNX file and the
safetensors weights take raw inputs and give final outputs, so inference cannot apply a
different transform than training did. The architecture travels as ``model.json`` (factory
name and params) and the weights as safetensors — never as a pickled module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from zenopt.core.errors import ModelError, first_line
from zenopt.core.heads import Head
from zenopt.core.rundir import atomic_write_bytes, atomic_write_text
from zenopt.models.input_transform import InputTransform
from zenopt.models.registry import build_model
from zenopt.models.shapes import apply_shapes

__all__ = ["DeployableModel", "ModelSpec", "load_deployable", "save_deployable"]

SPEC_FORMAT = "zenopt.model/1"


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild the architecture, without its weights."""

    name: str
    params: dict[str, Any]
    input_shape: tuple[int, ...]
    num_outputs: int
    head: Head
    task: str
    class_names: list[str] = field(default_factory=list)
    # How raw data becomes the model's input: feature names and the categorical encoder.
    inputs: dict[str, Any] = field(default_factory=dict)
    # The network's input after the fitted transform (feature selection and PCA change it).
    net_input_shape: tuple[int, ...] | None = None
    # Layers narrowed by structured pruning: name -> new sizes (see ``zenopt.models.shapes``).
    shapes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "bf16": the torch runtime runs the network under bfloat16 autocast.
    precision: str = "fp32"
    # A user's ``package.module:factory``: the folder it was imported from, so that a later
    # command imports it from any working directory (``registry.factory_folder``).
    factory_folder: str | None = None

    @property
    def net_shape(self) -> tuple[int, ...]:
        return self.net_input_shape or self.input_shape

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        data["net_input_shape"] = list(self.net_shape)
        if self.factory_folder is None:  # zoo models: the record keeps the keys it always had
            del data["factory_folder"]
        return {"format": SPEC_FORMAT, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        if data.get("format") != SPEC_FORMAT:
            raise ModelError(f"model spec format {data.get('format')!r} is not {SPEC_FORMAT!r}")
        fields = {k: v for k, v in data.items() if k != "format"}
        fields["input_shape"] = tuple(fields["input_shape"])
        if fields.get("net_input_shape") is not None:
            fields["net_input_shape"] = tuple(fields["net_input_shape"])
        return cls(**fields)


class DeployableModel(nn.Module):
    """``net(transform(x)) * output_std + output_mean``.

    ``transform`` is the fitted feature transform (imputation, clipping, scaling, selection,
    PCA); the output scaling undoes the standardisation of a regression target.
    """

    output_mean: torch.Tensor
    output_std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        transform: InputTransform | None = None,
        output_mean: float = 0.0,
        output_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.transform = transform or InputTransform()
        self.net = net
        self.register_buffer("output_mean", torch.tensor(float(output_mean)))
        self.register_buffer("output_std", torch.tensor(float(output_std)))
        self.scales_output = output_mean != 0.0 or output_std != 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self.transform(x))
        if self.scales_output:
            out = out * self.output_std + self.output_mean
        return out


def save_deployable(model: DeployableModel, spec: ModelSpec, folder: Path) -> dict[str, Path]:
    """Write ``model.json`` and ``model.safetensors`` into ``folder``."""
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    weights = folder / "model.safetensors"
    atomic_write_bytes(weights, save_safetensors(state, metadata={"format": SPEC_FORMAT}))
    spec_data = spec.to_dict()
    spec_data["scales_output"] = model.scales_output
    spec_data["input_transform"] = model.transform.layout()
    spec_path = folder / "model.json"
    atomic_write_text(spec_path, json.dumps(spec_data, indent=2) + "\n")
    return {"spec": spec_path, "safetensors": weights}


def load_deployable(path: Path) -> tuple[DeployableModel, ModelSpec]:
    """Rebuild a deployable model from ``model.json`` (or its folder) and its safetensors."""
    spec_path = path / "model.json" if path.is_dir() else path
    if not spec_path.is_file():
        raise ModelError(f"{spec_path}: model spec not found; pass a run folder or its model.json")
    try:
        data = json.loads(spec_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{spec_path}: not valid JSON ({exc.msg})") from None
    scales_output = bool(data.pop("scales_output", False))
    layout = data.pop("input_transform", {})
    spec = ModelSpec.from_dict(data)
    weights_path = spec_path.with_name("model.safetensors")
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: weights not found next to {spec_path.name}")
    try:
        state = load_safetensors(weights_path.read_bytes())
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise ModelError(
            f"{weights_path}: not readable safetensors weights ({first_line(exc)}); copy the "
            "run folder again or re-run it"
        ) from None
    net = apply_shapes(
        build_model(spec.name, spec.net_shape, spec.num_outputs, spec.params, spec.factory_folder),
        spec.shapes,
    )
    model = DeployableModel(net, InputTransform.from_layout(layout))
    model.scales_output = scales_output
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelError(f"{weights_path}: weights do not fit the architecture: {exc}") from None
    return model.eval(), spec
