"""Drawing a compression plan from the search space, one Optuna trial at a time.

Choices are conditional, as the techniques are: a pruned plan may distill (there is nothing to
distill into otherwise), quantization settings exist only for a quantized plan, a precision
step only for an unquantized one, and an INT8 or fp16 model runs in ONNX Runtime only.
"""

from __future__ import annotations

from typing import Any

from zenopt.core.compress_config import Distill, Precision, Prune, Quantize, Runtime, Step
from zenopt.core.search_config import SearchConfig

__all__ = ["ladder", "precisions", "sample_plan", "speed_only"]


def precisions(search: SearchConfig, cpu_flags: dict[str, bool]) -> list[str]:
    """The precision choices this CPU can use: bf16 needs AVX-512 BF16 or AMX."""
    has_bf16 = bool(cpu_flags.get("avx512_bf16") or cpu_flags.get("amx_bf16"))
    return [p for p in search.space.precision if p != "bf16" or has_bf16] or ["none"]


def sample_plan(trial: Any, search: SearchConfig, precision_choices: list[str]) -> list[Step]:
    """One plan from ``search.space``, its choices suggested through ``trial``;
    ``precision_choices`` are the study's (``precisions`` on the machine that created it), so
    every worker draws from the same space."""
    space = search.space
    steps: list[Step] = []
    ratio = float(trial.suggest_categorical("prune_ratio", space.prune_ratio))
    if ratio > 0:
        importance = trial.suggest_categorical("importance", space.importance)
        steps.append(Prune(ratio=ratio, importance=importance, epochs=search.prune_epochs))
        if trial.suggest_categorical("distill", space.distill):
            temperature = float(trial.suggest_categorical("temperature", space.temperature))
            epochs = int(trial.suggest_categorical("distill_epochs", space.distill_epochs))
            steps.append(Distill(temperature=temperature, epochs=epochs))
    mode = trial.suggest_categorical("quantize", space.quantize)
    onnx_only = mode != "none"
    if mode == "static":
        steps.append(
            Quantize(
                mode="static",
                calibration=trial.suggest_categorical("calibration", space.calibration),
                per_channel=trial.suggest_categorical("per_channel", space.per_channel),
                keep_float=_keep(trial.suggest_categorical("keep_float", space.keep_float)),
            )
        )
    elif mode == "dynamic":
        per_channel = trial.suggest_categorical("per_channel", space.per_channel)
        steps.append(Quantize(mode="dynamic", per_channel=per_channel))
    runtime: str | None = None
    if not onnx_only:
        precision = trial.suggest_categorical("precision", precision_choices)
        if precision == "fp16":
            steps.append(Precision(dtype="fp16"))
            onnx_only = True
        elif precision == "bf16":
            steps.append(Precision(dtype="bf16"))
            runtime = "torch"
    if runtime is None:
        runtime = (
            "onnxruntime" if onnx_only else trial.suggest_categorical("runtime", space.runtime)
        )
    threads = trial.suggest_categorical("threads", space.threads)
    level = "all"  # ONNX Runtime's own choice; a PyTorch runtime has no such level
    if runtime == "onnxruntime":
        level = space.graph_optimization[0]
        if len(space.graph_optimization) > 1:
            level = trial.suggest_categorical("graph_optimization", space.graph_optimization)
    steps.append(Runtime.model_validate({"name": runtime, "threads": threads,
                                         "graph_optimization": level}))  # fmt: skip
    return steps


def _keep(choice: str) -> list[str] | str:
    return "auto" if choice == "auto" else []


def speed_only(steps: list[Step]) -> list[Step]:
    """The plan as far as speed and size go: pruning without fine-tuning, no distillation
    (weights do not change speed). Measured before any training to reject hopeless plans."""
    out: list[Step] = []
    for step in steps:
        if isinstance(step, Distill):
            continue
        if isinstance(step, Prune):
            step = step.model_copy(update={"epochs": 0})
        out.append(step)
    return out


def ladder(search: SearchConfig, vnni: bool) -> list[dict[str, Any]]:
    """The search's first plans: one per pruning ratio, most compressed first, each with the
    strongest quality recovery the space offers (distillation at its first temperature for the
    most epochs) and the INT8 mode this CPU favours (static with VNNI; without it, dynamic:
    MatMul/Gemm in INT8, convolutions in float). They map the speed/quality curve along its
    main axis before the sampler models the rest."""
    space = search.space
    mode = "static" if vnni else "dynamic"
    if mode not in space.quantize:
        mode = space.quantize[0]
    plans = []
    for ratio in sorted((r for r in space.prune_ratio if r > 0), reverse=True):
        params: dict[str, Any] = {
            "prune_ratio": ratio,
            "importance": space.importance[0],
            "distill": True in space.distill,
            "temperature": space.temperature[0],
            "distill_epochs": max(space.distill_epochs),
            "quantize": mode,
            "calibration": space.calibration[0],
            "per_channel": space.per_channel[0],
            "keep_float": space.keep_float[0],
            "threads": space.threads[0],
        }
        if mode == "none":
            params |= {"precision": "none", "runtime": space.runtime[0]}
        plans.append(params)
    return plans
