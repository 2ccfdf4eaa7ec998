"""The model ``zenopt serve`` puts behind the protocol: the one the run's verdict names as
deployed (or a candidate folder of the run), in its runtime and thread count, with its tensors
and whether its outputs depend on the batch it is run in."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from zenopt.core.errors import ConfigError, RuntimeBackendError, ZenoptError, first_line
from zenopt.runtime.onnx_runtime import OnnxRuntimePredictor
from zenopt.runtime.predictor import Predictor, create_predictor
from zenopt.serve.signature import Signature

__all__ = [
    "BATCH_DEPENDENT_OPS",
    "SHAPE_SPECIALISED",
    "LoadedRuntime",
    "ServedModel",
    "batch_dependence",
    "inline_rows",
    "load_runtime",
    "load_served",
    "model_name",
    "padded_sizes",
]

# Operators that compute a quantization scale from the whole tensor they are given, so a row's
# result depends on the rows it is batched with (ONNX Runtime's dynamic INT8 path).
BATCH_DEPENDENT_OPS = ("DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM")

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # a URL part and a folder name


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
                f"--name {name!r}: use letters, digits, '_', '.' and '-' only, not first '.' "
                "or '-' (it is part of the URL and a Triton model folder's name)"
            )
        return name
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", str(manifest["model"]["name"]))
    return safe if _NAME.match(safe) else f"model_{safe}"


def batch_dependence(onnx_path: Path | None) -> str | None:
    """Why the model's outputs for a row depend on the other rows of its runtime call, read
    from the graph; None when they do not."""
    if onnx_path is None or not onnx_path.is_file():
        return None
    import onnx

    try:
        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception as exc:  # onnx raises protobuf's untyped errors for a damaged file
        raise RuntimeBackendError(
            f"{onnx_path}: not a readable ONNX model ({first_line(exc)}); re-run zenopt run "
            "(or zenopt compress) to write it again"
        ) from None
    ops = {node.op_type for node in graph.node} & set(BATCH_DEPENDENT_OPS)
    if not ops:
        return None
    return (
        f"dynamic INT8: {sorted(ops)[0]} quantizes activations with one scale per runtime call, "
        "so a row's result would depend on the rows batched with it; each request runs alone"
    )


def load_served(
    path: Path, name: str | None, threads: int | None, complete: bool = True
) -> ServedModel:
    """What ``zenopt serve PATH`` serves; one-line errors for a folder that is not a run."""
    from zenopt.core.config import RunConfig
    from zenopt.profile.machine import inference_threads
    from zenopt.runtime.deployed import resolve_model

    if not path.is_dir():
        raise ConfigError(f"{path}: not a folder; pass the --out folder of a zenopt run")
    manifest, deployed = resolve_model(path, complete)
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
        signature=Signature(
            manifest["model"], config.data.impute, str(config.data.source).endswith(".npz")
        ),
        unbatched_reason=batch_dependence(onnx_path if deployed.runtime == "onnxruntime" else None),
        manifest=manifest,
    )


# Runtimes that specialise a model to each batch size they see (torch.compile with
# dynamic=False recompiles per shape, and falls back to eager after 8): their calls are
# padded to a few fixed sizes, each compiled once at startup.
SHAPE_SPECIALISED = frozenset({"torch_compile"})
_SIZES = 8


def padded_sizes(max_batch: int) -> tuple[int, ...]:
    """At most 8 batch sizes from 1 to ``max_batch``, spaced geometrically: a call of n rows
    runs padded to the smallest size ≥ n (at most about twice the rows)."""
    return tuple(sorted({max(1, round(max_batch ** (i / (_SIZES - 1)))) for i in range(_SIZES)}))


@dataclass(frozen=True)
class LoadedRuntime:
    """The model loaded in its runtime, and the one thread every call of it runs in (loading
    it there too keeps a runtime's thread settings on the thread that uses them)."""

    predictor: Predictor
    executor: ThreadPoolExecutor
    sizes: tuple[int, ...] | None = None  # pad each call to one of these (SHAPE_SPECIALISED)
    inline_rows: int = 0  # calls of at most this many rows are short enough to run inline

    def run(self, X: np.ndarray) -> np.ndarray:
        """The model's outputs for ``X`` (in the inference thread, or inline on the event
        loop's: never two calls at once)."""
        if self.sizes is None:
            return self.predictor.predict(X)
        size = next(s for s in self.sizes if s >= len(X))
        padded = np.zeros((size, *X.shape[1:]), dtype=X.dtype)
        padded[: len(X)] = X
        out: np.ndarray = self.predictor.predict(padded)[: len(X)]
        return out

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.predictor.close()


def _seconds(loaded: LoadedRuntime, rows: int, shape: tuple[int, ...]) -> float:
    """The median of 5 warm calls of ``rows`` rows, in the inference thread."""
    X = np.zeros((rows, *shape), dtype=np.float32)

    def timed() -> float:
        started = time.perf_counter()
        loaded.run(X)
        return time.perf_counter() - started

    loaded.executor.submit(loaded.run, X).result()
    return float(np.median([loaded.executor.submit(timed).result() for _ in range(5)]))


def inline_rows(
    loaded: LoadedRuntime, shape: tuple[int, ...], max_batch: int, inline_s: float
) -> int:
    """The most rows a call may have and still be expected to take at most ``inline_s``
    (linear between the timed calls of 1 and ``max_batch`` rows); 0 when none may, and for
    runtimes other than ONNX Runtime (measured with it only; PyTorch called from two threads
    in turn can start a second OpenMP team, and compiled graphs stay on their own thread)."""
    if inline_s <= 0 or not isinstance(loaded.predictor, OnnxRuntimePredictor):
        return 0
    one = _seconds(loaded, 1, shape)
    if one > inline_s:
        return 0
    if max_batch == 1:
        return 1
    per_row = max(_seconds(loaded, max_batch, shape) - one, 0.0) / (max_batch - 1)
    if per_row == 0:
        return max_batch
    return min(max_batch, 1 + int((inline_s - one) / per_row))


def load_runtime(
    served: ServedModel, max_batch: int, inline_s: float = 0.0, spinning: bool = False
) -> LoadedRuntime:
    """Load ``served`` in its runtime and warm it up (every padded size, for a runtime that
    specialises to shapes); a one-line error when the runtime cannot. Calls expected to take
    at most ``inline_s`` will run inline (see :func:`inline_rows`); ONNX Runtime's threads
    spin between calls only with ``spinning`` (a spinning pool keeps a core busy)."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="zenopt-infer")
    predictor = create_predictor(served.runtime)
    if isinstance(predictor, OnnxRuntimePredictor):
        predictor.spinning = spinning
    sizes = padded_sizes(max_batch) if served.runtime in SHAPE_SPECIALISED else None
    loaded = LoadedRuntime(predictor, executor, sizes)
    shape = tuple(int(d) for d in served.manifest["model"]["input_shape"])
    try:
        executor.submit(predictor.load, served.artifact, served.threads).result()
        for size in sizes or (1,):
            executor.submit(loaded.run, np.zeros((size, *shape), dtype=np.float32)).result()
        rows = inline_rows(loaded, shape, max_batch, inline_s)
    except Exception as exc:
        executor.shutdown(wait=False)
        if isinstance(exc, ZenoptError):
            raise
        raise RuntimeBackendError(
            f"{served.runtime} cannot run {served.label} ({served.artifact}): {first_line(exc)}"
        ) from exc
    return replace(loaded, inline_rows=rows)
