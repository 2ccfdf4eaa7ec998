"""The train box for a model that arrives trained (``model.name: onnx:PATH``): it is built
from its file, checked against ONNX Runtime on the training rows, and taken as the baseline
without training; the evaluate box then measures it like any other."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from zenopt.core.config import RunConfig
from zenopt.data import Dataset, TargetScaler
from zenopt.data.prepare import Prepared
from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.flow.graph_only import PYTORCH_TECHNIQUES
from zenopt.flow.train import model_inputs
from zenopt.models import DeployableModel, ModelSpec
from zenopt.models.input_transform import InputTransform
from zenopt.models.onnx_source import load_onnx_model
from zenopt.train.losses import HEAD_LOSS

__all__ = ["build_pretrained", "note_graph_only", "take_pretrained"]

_CHECK_ROWS = 256  # training rows the conversion is checked on


def build_pretrained(
    config: RunConfig, dataset: Dataset, prepared: Prepared, net_shape: tuple[int, ...]
) -> tuple[torch.nn.Module, ModelSpec]:
    """The ONNX model as a PyTorch module, and its spec (whose params say where it came from:
    file, digest, the conversion's check)."""
    train = prepared.splits.train.X
    rows = prepared.model_input(train[:_CHECK_ROWS]).astype(np.float32)
    loaded = load_onnx_model(config.model.name, net_shape, dataset.task, dataset.num_classes, rows)
    source = {
        "file": str(loaded.path),
        "model": config.model.name,  # keras:PATH: exported to the ONNX file above
        "sha256": loaded.sha256,
        "layout": "channels-last (transposed)" if loaded.permute else "as the data",
        "converted_max_rel_diff": loaded.max_abs_diff,
        "checked_rows": len(rows),
        "notes": loaded.notes,
    }
    params: dict[str, Any] = {"graph": loaded.graph, "permute": loaded.permute}
    name = "onnx"
    if "graph_only" in loaded.graph:  # kept as its ONNX graph (no PyTorch form)
        size, reason = int(loaded.net.get_buffer("graph").numel()), loaded.graph["graph_only"]
        name, params = "onnx_file", {"size": size, "permute": loaded.permute, "reason": reason}
    spec = ModelSpec(
        name=name,
        params={**params, "source": source},
        input_shape=tuple(int(d) for d in train.shape[1:]),
        net_input_shape=net_shape,
        num_outputs=loaded.num_outputs,
        head=loaded.head,  # type: ignore[arg-type]
        task=dataset.task,
        class_names=list(dataset.class_names),
        inputs=model_inputs(dataset, prepared),
    )
    return loaded.net, spec


def take_pretrained(
    ctx: RunContext, record: RunRecord, net: torch.nn.Module, spec: ModelSpec
) -> Baseline:
    """The baseline is the model as it came: wrapped with the (unfitted unless asked)
    preprocessing, not trained."""
    prepared = ctx.data.prepared
    model = DeployableModel(net, InputTransform(prepared.transform.arrays)).eval()
    preprocess = {**prepared.to_dict(), "target": TargetScaler().to_dict()}
    record.manifest["data"]["preprocess"] = preprocess
    record.manifest["model"] = {**spec.to_dict(), "loss": HEAD_LOSS[spec.head]}
    record.manifest["training"] = {
        "pretrained": f"{ctx.config.model.name}: trained elsewhere, taken as it is",
        "epochs_run": 0,
    }
    note_graph_only(ctx, record, spec)
    return Baseline(model, spec)


def note_graph_only(ctx: RunContext, record: RunRecord, spec: ModelSpec) -> None:
    """For a model kept as its ONNX graph, the one line on what the search could not try, in
    the manifest's training section and on the console."""
    reason = spec.params.get("reason")
    if reason:
        line = (
            f"{PYTORCH_TECHNIQUES} were not tried: {reason}, so there is no PyTorch form to "
            "train; the efficiency search, when it runs, tries graph techniques only (INT8, "
            "fp16, ONNX Runtime's settings)"
        )
        record.manifest["training"]["pytorch_techniques"] = line
        ctx.warn(f"{ctx.config.model.name} runs as its ONNX graph: {line}")
