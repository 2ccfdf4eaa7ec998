"""INT8 quantization with ONNX Runtime: static QDQ, calibrated on training rows, or dynamic.

The activation and weight types and ``reduce_range`` follow ONNX Runtime's guidance for the
CPU at hand: U8S8 (uint8 activations, int8 weights) is the fast x86 path; on CPUs without VNNI
the 16-bit intermediate of the U8S8 kernels can saturate, which 7-bit weights prevent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx

from zenopt.compress._base import CompressContext, CompressState, register, require_pytorch_form
from zenopt.compress.onnx_graph import (
    conv_input_channels,
    export_state,
    gemm_to_matmul,
    prepare_for_quantization,
    quantized_ops,
    quiet_quantizer,
    select_nodes,
)
from zenopt.core.compress_config import Quantize, _QuantSettings
from zenopt.core.errors import ModelError, ZenoptError, first_line

__all__ = ["quantize", "quantize_onnx"]

# A convolution reading this few channels is the one reading the image itself: its int8 kernel
# has almost nothing to reduce over (measured here 6× slower than fp32 for 1 channel), and the
# raw input is where 8 bits cost the most accuracy.
RAW_INPUT_CHANNELS = 3
CALIBRATION_BATCH = 32
DYNAMIC_DEFAULT_OPS = ["MatMul", "Gemm"]


def _reader(ctx: CompressContext, samples: int, input_name: str) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    rng = np.random.default_rng(ctx.seed)
    rows = np.sort(rng.permutation(len(ctx.X_train))[:samples])
    X = np.ascontiguousarray(ctx.X_train[rows], dtype=np.float32)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = iter(
                [
                    {input_name: X[i : i + CALIBRATION_BATCH]}
                    for i in range(0, len(X), CALIBRATION_BATCH)
                ]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    return Reader()


def resolve_types(config: _QuantSettings, ctx: CompressContext) -> dict[str, Any]:
    """Activation/weight types and reduce_range for this CPU, as plain values."""
    activation = "uint8" if config.activation_type == "auto" else config.activation_type
    reduce_range = (not ctx.has_vnni) if config.reduce_range == "auto" else config.reduce_range
    return {
        "activation_type": activation,
        "weight_type": config.weight_type,
        "reduce_range": bool(reduce_range),
    }


def _float_nodes(
    config: _QuantSettings, model: onnx.ModelProto, op_types: list[str] | None
) -> list[str]:
    if config.keep_float == "auto":
        if op_types is not None and "Conv" not in op_types:
            return []
        return [n for n, c in conv_input_channels(model).items() if c <= RAW_INPUT_CHANNELS]
    return select_nodes(model, list(config.keep_float), config.label())


def quantize_onnx(
    config: _QuantSettings,
    src: Path,
    dst: Path,
    ctx: CompressContext,
    mode: str = "static",
    op_types: list[str] | None = None,
) -> dict[str, Any]:
    """Quantize the FP32 model ``src`` into ``dst``; return what was chosen."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    prepared = prepare_for_quantization(src, src.with_name(f"{src.stem}.prep.onnx"))
    model = onnx.load(str(prepared))
    types = resolve_types(config, ctx)
    qtype = {"uint8": QuantType.QUInt8, "int8": QuantType.QInt8}
    if mode == "dynamic":
        op_types = op_types or DYNAMIC_DEFAULT_OPS
    excluded = _float_nodes(config, model, op_types)
    with quiet_quantizer():
        if mode == "dynamic":
            ops = list(op_types or DYNAMIC_DEFAULT_OPS)
            if "Gemm" in ops:  # ORT's dynamic path only has a MatMul kernel
                onnx.save(gemm_to_matmul(model), str(prepared))
                ops = sorted({*ops, "MatMul"} - {"Gemm"})
            quantize_dynamic(
                str(prepared),
                str(dst),
                op_types_to_quantize=ops,
                per_channel=config.per_channel,
                reduce_range=types["reduce_range"],
                weight_type=qtype[types["weight_type"]],
                nodes_to_exclude=excluded,
            )
        else:
            method = {
                "minmax": CalibrationMethod.MinMax,
                "entropy": CalibrationMethod.Entropy,
                "percentile": CalibrationMethod.Percentile,
            }[config.calibration]
            quantize_static(
                str(prepared),
                str(dst),
                _reader(ctx, config.calibration_samples, model.graph.input[0].name),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=op_types,
                per_channel=config.per_channel,
                reduce_range=types["reduce_range"],
                activation_type=qtype[types["activation_type"]],
                weight_type=qtype[types["weight_type"]],
                nodes_to_exclude=excluded,
                calibrate_method=method,
            )
    counts = quantized_ops(onnx.load(str(dst)))
    return {**types, "mode": mode, "kept_float": excluded, "op_types": op_types, **counts}


@register(Quantize)
def quantize(config: Quantize, state: CompressState, ctx: CompressContext) -> CompressState:
    require_pytorch_form(
        config,
        state,
        "the model is already quantized or in fp16; quantize once, as the last model-changing step",
    )
    src = export_state(state, ctx.workdir / "fp32.onnx")
    dst = ctx.workdir / "int8.onnx"
    try:
        chosen = quantize_onnx(config, src, dst, ctx, config.mode, config.op_types)
    except ZenoptError:
        raise
    except Exception as exc:  # ONNX Runtime's quantization tools raise their own errors
        raise ModelError(
            f"{config.label()}: ONNX Runtime's quantizer cannot quantize this graph "
            f"({type(exc).__name__}: {first_line(exc)}); the other graph techniques still "
            "apply: precision(dtype=fp16), or runtime(name=onnxruntime, threads=…) alone"
        ) from exc
    state.onnx = dst.read_bytes()
    state.notes.append({"step": config.label(), **chosen})
    return state
