"""The technique protocol: a state that flows through a plan, the context every handler gets,
and the registry that maps a config type to its handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from pydantic import BaseModel

from zenopt.core.config import DataConfig, TrainConfig
from zenopt.core.errors import ConfigError
from zenopt.data.augment import BatchAugmenter
from zenopt.data.balance import balance_training_rows
from zenopt.models import DeployableModel, ModelSpec
from zenopt.train import LossKind, fit
from zenopt.train.trainer import Augmenter, Objective, TrainResult

__all__ = [
    "CompressContext",
    "CompressState",
    "Handler",
    "finetune",
    "handler_for",
    "has_vnni",
    "register",
    "require_pytorch_form",
]


def has_vnni(flags: dict[str, bool]) -> bool:
    """The CPU has 8-bit dot-product instructions (AVX-512 VNNI, AVX-VNNI or AMX)."""
    return bool(flags.get("avx512_vnni") or flags.get("avx_vnni") or flags.get("amx_int8"))


@dataclass
class CompressContext:
    """What a technique needs besides the model. ``X_*`` are raw rows (the deployable model
    takes raw inputs); ``net_input`` applies the fitted transform the network was trained on.
    ``X_train`` trains, fine-tunes and calibrates; ``X_holdout``, a slice carved from the
    training split, is what fine-tuning stops early on. Neither the validation split (which
    selects between candidates) nor the test split is here: no technique may tune, calibrate
    or stop early on them."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_holdout: np.ndarray
    y_holdout: np.ndarray
    net_input: Callable[[np.ndarray], np.ndarray]
    loss: LossKind
    train: TrainConfig
    seed: int
    teacher: DeployableModel
    workdir: Path
    cpu_flags: dict[str, bool] = field(default_factory=dict)
    # The run's data treatment that fine-tuning keeps: ``balance`` and the augmentation
    # settings (``data.augment`` …) of its data config, and the number of classes.
    data: DataConfig | None = None
    num_classes: int = 0
    # Called with (what, done, total) during long steps (fine-tuning epochs).
    progress: Callable[[str, int, int], None] | None = None

    @property
    def has_vnni(self) -> bool:
        return has_vnni(self.cpu_flags)


@dataclass
class CompressState:
    """The model as it moves through a plan.

    ``model`` is the PyTorch form (FP32, maybe pruned). Once a step makes an ONNX-only form
    (INT8, fp16), ``onnx`` holds its bytes and later steps must work on ONNX. ``notes`` keeps
    what each step did and measured, in order."""

    model: DeployableModel
    spec: ModelSpec
    onnx: bytes | None = None
    runtime: str | None = None
    threads: int | None = None
    graph_optimization: str = "all"  # ONNX Runtime's level, stamped into the candidate's file
    notes: list[dict[str, Any]] = field(default_factory=list)


Handler = Callable[[Any, CompressState, CompressContext], CompressState]
_HANDLERS: dict[type[BaseModel], Handler] = {}
C = TypeVar("C", bound=BaseModel)


def register(config_type: type[C]) -> Callable[[Handler], Handler]:
    """Register ``handler(config, state, context) -> state`` for ``config_type``."""

    def decorate(handler: Handler) -> Handler:
        _HANDLERS[config_type] = handler
        return handler

    return decorate


def handler_for(config: BaseModel) -> Handler:
    handler = _HANDLERS.get(type(config))
    if handler is None:
        raise ConfigError(
            f"compress: no technique is registered for {type(config).__name__}; "
            f"known: {', '.join(sorted(t.__name__ for t in _HANDLERS))}"
        )
    return handler


def require_pytorch_form(
    config: BaseModel, state: CompressState, why: str = "must come before quantize/qat/fp16"
) -> None:
    """Refuse a step that changes the PyTorch model once a step has made the ONNX-only form.
    ``check_plan`` orders a plan before any work; this guards a handler called on its own."""
    if state.onnx is not None:
        label = config.label()  # type: ignore[attr-defined]
        raise ConfigError(f"compress.plan: {label}: {why}")


def finetune(
    state: CompressState,
    ctx: CompressContext,
    epochs: int,
    lr: float,
    what: str,
    objective: Objective | None = None,
    augmenter: Augmenter | Literal["run"] | None = "run",
) -> TrainResult | None:
    """Fine-tune the network of ``state`` in place on the training rows, keeping the best epoch
    on the holdout rows. The optimizer, batch size, class balancing and augmentation are the
    run's (``augmenter``: ``"run"`` for the run's augmentation, else a step's own, or None for
    none); the schedule is cosine."""
    if epochs <= 0:
        return None
    config = ctx.train.model_copy(
        update={"epochs": epochs, "lr": lr, "schedule": "cosine", "patience": None}
    )
    X_train, X_val = ctx.net_input(ctx.X_train), ctx.net_input(ctx.X_holdout)
    y_train, y_val = ctx.y_train, ctx.y_holdout
    if ctx.loss == "mse":  # the network learned a standardised target
        mean, std = float(state.model.output_mean), float(state.model.output_std)
        y_train = ((y_train - mean) / std).astype(np.float32)
        y_val = ((y_val - mean) / std).astype(np.float32)

    weights = None
    if ctx.data is not None:
        X_train, y_train, weights, _ = balance_training_rows(
            ctx.data.balance, X_train, y_train, ctx.num_classes, ctx.seed
        )
    if augmenter == "run":
        augmenter = BatchAugmenter.from_config(ctx.data, ctx.seed) if ctx.data else None

    def on_epoch(record: Any) -> None:
        if ctx.progress is not None:
            ctx.progress(what, int(record.epoch), epochs)

    torch.manual_seed(ctx.seed)
    result = fit(
        state.model.net,
        X_train,
        y_train,
        X_val,
        y_val,
        config,
        ctx.loss,
        ctx.seed,
        on_epoch,
        weights,
        augmenter=augmenter,
        objective=objective,
    )
    state.model.eval()
    return result
