"""The model ``zenopt serve`` puts behind the protocol: the one the run's verdict names as
deployed (or a candidate folder of the run), in its runtime and thread count, with its tensors
and whether its outputs depend on the batch it is run in."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.errors import ConfigError, RuntimeBackendError, ZenoptError, first_line
from zenopt.runtime.predictor import Predictor, create_predictor
from zenopt.serve.signature import Signature

__all__ = [
    "BATCH_DEPENDENT_OPS",
    "LoadedRuntime",
    "ServedModel",
    "batch_dependence",
    "load_runtime",
    "load_served",
    "model_name",
]

# Operators that compute a quantization scale from the whole tensor they are given, so a row's
# result depends on the rows it is batched with (ONNX Runtime's dynamic INT8 path).
BATCH_DEPENDENT_OPS = ("DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM")

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class ServedModel:
    name: str  # the name in the URL: /v2/models/{name}
    label: str  # "the FP32 export", "search/trial-00012", "compressed/NAME"
    runtime: str
    threads: int
    artifact: Path  # the file the runtime loads
    onnx: Path | None  # the ONNX form, for export (None when the model has none)
    signature: Signature
    unbatched_reason: str | None  # why requests are not batched together; None: they are
    manifest: dict[str, Any]

    @property
    def platform(self) -> str:
        return {"onnxruntime": "onnxruntime_onnx", "torch": "pytorch_eager"}.get(
            self.runtime, self.runtime
        )


def model_name(manifest: dict[str, Any], name: str | None) -> str:
    """``--name``, checked, or the run's model name made URL-safe (``pkg.mod:fn`` →
    ``pkg.mod_fn``)."""
    if name is not None:
        if not _NAME.match(name):
            raise ConfigError(
                f"--name {name!r}: use letters, digits, '_', '.' and '-' only (it is part of "
                "the URL and a Triton model folder's name)"
            )
        return name
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(manifest["model"]["name"])) or "model"


def batch_dependence(onnx_path: Path | None) -> str | None:
    """Why the model's outputs for a row depend on the other rows of its runtime call, read
    from the graph; None when they do not."""
    if onnx_path is None or not onnx_path.is_file():
        return None
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    ops = {node.op_type for node in graph.node} & set(BATCH_DEPENDENT_OPS)
    if not ops:
        return None
    return (
        f"dynamic INT8: {sorted(ops)[0]} quantizes activations with one scale per runtime call, "
        "so a row's result would depend on the rows batched with it; each request runs alone"
    )


def load_served(path: Path, name: str | None, threads: int | None) -> ServedModel:
    """What ``zenopt serve PATH`` serves; one-line errors for a folder that is not a run."""
    from zenopt.core.config import RunConfig
    from zenopt.models.deployed import resolve_model
    from zenopt.profile.machine import inference_threads

    if not path.is_dir():
        raise ConfigError(f"{path}: not a folder; pass the --out folder of a zenopt run")
    manifest, deployed = resolve_model(path)
    config = RunConfig.model_validate(manifest["config"])
    artifact = deployed.file(deployed.runtime)
    onnx_path = deployed.folder / "model.onnx"
    return ServedModel(
        name=model_name(manifest, name),
        label=deployed.label,
        runtime=deployed.runtime,
        threads=threads or deployed.threads or inference_threads(config.bench.threads),
        artifact=artifact,
        onnx=onnx_path if onnx_path.is_file() else None,
        signature=Signature(manifest["model"], config.data.impute),
        unbatched_reason=batch_dependence(onnx_path if deployed.runtime == "onnxruntime" else None),
        manifest=manifest,
    )


@dataclass(frozen=True)
class LoadedRuntime:
    """The model loaded in its runtime, and the one thread every call of it runs in (loading
    it there too keeps a runtime's thread settings on the thread that uses them)."""

    predictor: Predictor
    executor: ThreadPoolExecutor

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.predictor.close()


def load_runtime(served: ServedModel) -> LoadedRuntime:
    """Load ``served`` in its runtime and make one warm-up call; a one-line error when the
    runtime cannot."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="zenopt-infer")
    predictor = create_predictor(served.runtime)
    shape = tuple(int(d) for d in served.manifest["model"]["input_shape"])
    try:
        executor.submit(predictor.load, served.artifact, served.threads).result()
        executor.submit(predictor.predict, np.zeros((1, *shape), dtype=np.float32)).result()
    except Exception as exc:
        executor.shutdown(wait=False)
        if isinstance(exc, ZenoptError):
            raise
        raise RuntimeBackendError(
            f"{served.runtime} cannot run {served.label} ({served.artifact}): {first_line(exc)}"
        ) from exc
    return LoadedRuntime(predictor, executor)
