"""Quantization-aware training: fine-tune with fake INT8 quantization, export as QDQ.

During the fine-tune every quantized layer sees its weights rounded to the int8 grid (symmetric,
per channel or per tensor, ±64 when ``reduce_range``) and its input rounded to a uint8 grid
whose range follows the batches (an exponential moving average of min/max). Gradients pass the
rounding straight through. The weights end on the int8 grid, so ONNX Runtime's static QDQ
quantizer, calibrated as usual, reproduces them exactly and the network has already learned to
live with the activation rounding.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from zenopt.compress._base import (
    CompressContext,
    CompressState,
    finetune,
    register,
    require_pytorch_form,
)
from zenopt.compress.onnx_graph import export_state
from zenopt.compress.quantize import RAW_INPUT_CHANNELS, quantize_onnx, resolve_types
from zenopt.core.compress_config import QuantizationAwareTraining
from zenopt.core.errors import ConfigError

__all__ = ["FakeQuantInput", "FakeQuantWeight", "quantization_aware_training"]

_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
EMA = 0.9


class FakeQuantWeight(nn.Module):
    """Round a weight to ONNX Runtime's symmetric int8 grid, ±``qmax`` (straight-through
    gradient): ±127, or ±64 with ``reduce_range``, with scale max|w| / qmax."""

    def __init__(self, per_channel: bool, qmax: int) -> None:
        super().__init__()
        self.per_channel = per_channel
        self.qmax = qmax

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.per_channel:
            channel_max = weight.detach().abs().flatten(1).amax(dim=1).clamp_min(1e-8)
            scale = (channel_max / self.qmax).to(torch.float32)
            zero = torch.zeros_like(scale, dtype=torch.int32)
            return torch.fake_quantize_per_channel_affine(
                weight, scale, zero, 0, -self.qmax, self.qmax
            )
        tensor_max = float(weight.detach().abs().max().clamp_min(1e-8))
        return torch.fake_quantize_per_tensor_affine(
            weight, tensor_max / self.qmax, 0, -self.qmax, self.qmax
        )


class FakeQuantInput:
    """Forward pre-hook: round a layer's input to an asymmetric uint8 grid over its range."""

    def __init__(self) -> None:
        self.low: float | None = None
        self.high: float | None = None

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
        x = args[0]
        if module.training or self.low is None:
            low, high = min(float(x.detach().min()), 0.0), max(float(x.detach().max()), 0.0)
            if self.low is None or self.high is None:
                self.low, self.high = low, high
            else:
                self.low = EMA * self.low + (1 - EMA) * low
                self.high = EMA * self.high + (1 - EMA) * high
        scale = max((self.high - self.low) / 255.0, 1e-8)  # type: ignore[operator]
        zero = round(-self.low / scale)  # type: ignore[operator]
        return (torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255),)


def _in_channels(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    return int(module.in_channels)  # type: ignore[arg-type]


@register(QuantizationAwareTraining)
def quantization_aware_training(
    config: QuantizationAwareTraining, state: CompressState, ctx: CompressContext
) -> CompressState:
    require_pytorch_form(
        config,
        state,
        "the model is already quantized or in fp16; use qat instead of quantize, not after it",
    )
    if config.keep_float != "auto":
        raise ConfigError(
            f"compress.plan: {config.label()}: keep_float must stay 'auto' for qat (the "
            "fake-quantized layers must be the ones ONNX Runtime quantizes)"
        )
    types = resolve_types(config, ctx)
    qmax = 64 if types["reduce_range"] else 127  # onnxruntime's symmetric int8 ranges
    net = state.model.net
    layers = [
        m
        for m in net.modules()
        if isinstance(m, _LAYERS)
        and not (
            isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)
            and _in_channels(m) <= RAW_INPUT_CHANNELS
        )
    ]
    # 1. Fake quantization in: weights through a parametrization, inputs through a hook.
    hooks = []
    for module in layers:
        parametrize.register_parametrization(
            module, "weight", FakeQuantWeight(config.per_channel, qmax)
        )
        hooks.append(module.register_forward_pre_hook(FakeQuantInput()))
    try:
        result = finetune(state, ctx, config.epochs, config.lr, "qat: fine-tune")
    finally:
        # 2. Out again, with the weights left on the int8 grid.
        for hook in hooks:
            hook.remove()
        for module in layers:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    # 3. Static QDQ quantization of the fine-tuned network.
    src = export_state(state, ctx.workdir / "qat_fp32.onnx")
    dst = ctx.workdir / "qat_int8.onnx"
    chosen = quantize_onnx(config, src, dst, ctx, "static")
    state.onnx = dst.read_bytes()
    state.notes.append(
        {
            "step": config.label(),
            "fake_quantized_layers": len(layers),
            "val_metric": None if result is None else result.best_value,
            **chosen,
        }
    )
    return state
