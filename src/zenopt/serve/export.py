"""Deployment files for existing engines: a Triton model repository (the ONNX file and a
``config.pbtxt``) and a KServe ``InferenceService`` manifest that serves it with Triton.

Triton runs the ONNX graph as it is: it takes the model's float32 input and gives its raw
outputs (logits for a classifier). ``zenopt serve`` adds the rest on top of the same graph —
a table's per-column inputs and their categorical encoding, class probabilities and labels —
so the files say, in a comment, what a client of Triton has to do itself.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from zenopt.core.errors import ConfigError
from zenopt.core.rundir import atomic_write_text
from zenopt.runtime.onnx_runtime import recorded_level
from zenopt.serve.model import ServedModel
from zenopt.serve.settings import ServeSettings

__all__ = ["TRITON_TYPES", "export_deployment", "triton_config"]

# ONNX TensorProto element type → Triton's DataType name
TRITON_TYPES = {
    1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16",
    6: "TYPE_INT32", 7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64",
    12: "TYPE_UINT32", 13: "TYPE_UINT64", 16: "TYPE_BF16",
}  # fmt: skip


def _tensors(values: list[object], batched: bool) -> list[tuple[str, str, list[int]]]:
    """Name, Triton type and dims (without the batch axis when batched) of graph values."""
    out = []
    for value in values:
        tensor = value.type.tensor_type  # type: ignore[attr-defined]
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
        name = value.name  # type: ignore[attr-defined]
        out.append((name, TRITON_TYPES.get(tensor.elem_type, "TYPE_INVALID"), dims[batched:]))
    return out


def _block(kind: str, tensors: list[tuple[str, str, list[int]]], labels: bool = False) -> str:
    """An ``input [...]`` or ``output [...]`` block; with ``labels``, the first output names
    its class per position in ``labels.txt`` (Triton's classification extension)."""
    items = ",\n".join(
        f'  {{\n    name: "{name}"\n    data_type: {dtype}\n'
        f"    dims: [ {', '.join(map(str, dims))} ]\n"
        + ('    label_filename: "labels.txt"\n' if labels and i == 0 else "")
        + "  }"
        for i, (name, dtype, dims) in enumerate(tensors)
    )
    return f"{kind} [\n{items}\n]\n"


def _batch_axis_dynamic(values: list[object]) -> bool:
    for value in values:
        dims = value.type.tensor_type.shape.dim  # type: ignore[attr-defined]
        if not dims or dims[0].HasField("dim_value"):
            return False
    return True


def _comment(served: ServedModel) -> str:
    lines = [f"# Written by zenopt serve --export from {served.label} ({served.runtime})."]
    if served.signature.kind == "columns":
        lines.append(
            "# Input: the encoded feature matrix, not the table's columns: numeric columns "
            "first (NaN for a missing value), then each categorical column one-hot or ordinal "
            "encoded with the run's categories (inputs.json next to this file). "
            "`zenopt serve` takes the columns themselves."
        )
    if served.signature.head != "identity":
        lines.append(
            f"# Output: logits (apply {served.signature.head} for probabilities), one per class "
            "in this order: "
            + ", ".join(served.signature.class_names[:50])
            + "; `zenopt serve` gives probabilities and labels."
        )
    if served.unbatched_reason is not None:
        lines.append(f"# No dynamic_batching: {served.unbatched_reason}.")
    return "\n".join(lines) + "\n"


def triton_config(served: ServedModel, settings: ServeSettings) -> str:
    """``config.pbtxt`` for Triton's ONNX Runtime backend: the graph's inputs and outputs,
    dynamic batching with the serving settings (unless the model's outputs depend on the
    batch), ``--workers`` CPU instances of ``--threads`` threads each."""
    import onnx

    assert served.onnx is not None
    graph = onnx.load(str(served.onnx), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    batched = _batch_axis_dynamic([*inputs, *graph.output])
    text = _comment(served)
    text += f'name: "{served.name}"\nbackend: "onnxruntime"\n'
    text += f"max_batch_size: {settings.max_batch if batched else 0}\n"
    text += _block("input", _tensors(list(inputs), batched))
    softmax = served.signature.head == "softmax"
    text += _block("output", _tensors(list(graph.output), batched), labels=softmax)
    if batched and served.unbatched_reason is None:
        text += (
            f"dynamic_batching {{\n  max_queue_delay_microseconds: {settings.max_delay_us}\n"
            f"  default_queue_policy {{ max_queue_size: {settings.queue} "
            f"default_timeout_microseconds: {settings.timeout_ms * 1000} }}\n}}\n"
        )
    level = recorded_level(served.onnx)
    if level != "all":  # the backend's codes: -1 basic, 1 extended, 2 none (else all)
        code = {"basic": -1, "extended": 1, "none": 2}[level]
        text += f"optimization {{ graph {{ level: {code} }} }}\n"
    text += f"instance_group [\n  {{\n    count: {settings.workers}\n    kind: KIND_CPU\n  }}\n]\n"
    text += (
        'parameters { key: "intra_op_thread_count" value: { string_value: '
        f'"{served.threads}" }} }}\n'
        'parameters { key: "inter_op_thread_count" value: { string_value: "1" } }\n'
    )
    return text


def _inference_service(served: ServedModel, settings: ServeSettings) -> str:
    """A KServe InferenceService serving the repository with Triton over the v2 protocol."""
    # a DNS-1035 label: lower-case letters, digits and '-', a letter first, at most 63
    dns = re.sub(r"[^a-z0-9-]", "-", served.name.lower()).strip("-")
    dns = (dns if dns[:1].isalpha() else f"model-{dns}")[:63].rstrip("-")
    cpu = served.threads * settings.workers
    return f"""# KServe InferenceService for the Triton model repository next to this file.
# Upload the folder {served.name}/ (config.pbtxt and 1/model.onnx) to your model store and put
# its parent's URI in storageUri. Clients speak the Open Inference Protocol v2 (REST or gRPC).
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {dns}
spec:
  predictor:
    model:
      modelFormat:
        name: onnx
      protocolVersion: v2
      runtime: kserve-tritonserver
      storageUri: s3://YOUR-BUCKET/PATH/TO/THIS/FOLDER
      resources:
        requests:
          cpu: "{cpu}"
        limits:
          cpu: "{cpu}"
"""


def export_deployment(served: ServedModel, settings: ServeSettings, folder: Path) -> list[Path]:
    """Write ``folder/NAME/config.pbtxt``, ``folder/NAME/1/model.onnx`` and
    ``folder/inference_service.yaml``; the paths written."""
    if served.onnx is None:
        raise ConfigError(
            f"{served.label} has no model.onnx ({served.runtime} model): Triton's files need "
            "the ONNX form; serve it with zenopt serve instead"
        )
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--export {folder}: a file; give a new or empty folder")
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"--export {folder}: not empty; give a new or empty folder")
    model = folder / served.name
    (model / "1").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(served.onnx, model / "1" / "model.onnx")
    written = [model / "config.pbtxt", model / "1" / "model.onnx"]
    atomic_write_text(written[0], triton_config(served, settings))
    if served.signature.head == "softmax":  # the class of each output position
        written.append(model / "labels.txt")
        atomic_write_text(written[-1], "".join(f"{c}\n" for c in served.signature.class_names))
    if served.signature.kind == "columns":  # what a client must do to the columns
        written.append(model / "inputs.json")
        atomic_write_text(written[-1], _inputs_json(served))
    written.append(folder / "inference_service.yaml")
    atomic_write_text(written[-1], _inference_service(served, settings))
    return written


def _inputs_json(served: ServedModel) -> str:
    """The encoding from a table's columns to the graph's input, for a client of Triton."""
    inputs = served.manifest["model"].get("inputs") or {}
    return json.dumps(
        {
            "input": "the graph's input: numeric columns, then each categorical column encoded",
            "numeric": inputs.get("numeric", []),
            "missing_numeric": "NaN (the graph imputes)" if served.signature.imputes else "none",
            "encoder": inputs.get("encoder"),
            "unseen_category": "all zeros (onehot), -1 (ordinal)",
            "missing_category": "the category '(missing)' when the training data had one",
            "class_names": served.signature.class_names,
        },
        indent=2,
    )
