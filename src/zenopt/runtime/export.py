"""Export to ONNX with a dynamic batch dimension, then prove the export reproduces the model."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import threading
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zenopt.core.errors import ExportError, first_line
from zenopt.core.heads import decode_outputs
from zenopt.core.rundir import atomic_write_bytes
from zenopt.runtime.onnx_runtime import make_session

__all__ = ["ATOL", "RTOL", "ExportCheck", "export_onnx", "verify_export"]

# ONNX Runtime and PyTorch may fuse and order float operations differently; outputs must agree
# to |a - b| <= ATOL + RTOL * |b| element-wise, and every decoded prediction must be identical.
ATOL = 1e-4
RTOL = 1e-4
OPSET = 18
# Rows also checked one at a time (batch 1), the way a deployed model is often called.
SINGLE_ROWS = 8


# One ATen→ONNX operator registry per opset, built once per process (see below).
_REGISTRIES: dict[int | None, Any] = {}
_PATCHING = threading.Lock()


def _registry_class() -> Any:
    try:
        from torch.onnx._internal.exporter._registration import ONNXRegistry
    except ImportError:
        return None
    return ONNXRegistry


def _registry_copy(registry: Any) -> Any:
    """A registry of its own for each export: the cached one's entries, in new lists (an export
    only reads them; should anything register an operator, the cache stays as built)."""
    fresh = copy.copy(registry)
    fresh.functions = {op: list(metas) for op, metas in registry.functions.items()}
    return fresh


@contextlib.contextmanager
def _reused_operator_registry() -> Iterator[None]:
    """``torch.onnx.export`` builds its ATen→ONNX operator registry from torchlib anew on every
    call: 0.9 s of the 1.7 s a small net's export took here (0.65–0.85 s with this). An export only
    reads the registry (we pass no custom translation table), so it is built once per opset
    and each export gets a copy, inside our own export calls only: a user's
    ``torch.onnx.export`` in the same process gets torch's own behaviour."""
    registry_class = _registry_class()
    with _PATCHING:  # one export at a time: each reads, then restores, torch's own method
        original = vars(registry_class).get("from_torchlib") if registry_class else None
        build = getattr(original, "__func__", None)
        if registry_class is None or build is None:  # another torch: export as it comes
            yield
            return

        def reuse(cls: Any, opset_version: int | None = None) -> Any:
            if opset_version not in _REGISTRIES:
                args = () if opset_version is None else (opset_version,)
                _REGISTRIES[opset_version] = build(cls, *args)
            return _registry_copy(_REGISTRIES[opset_version])

        registry_class.from_torchlib = classmethod(reuse)
        try:
            yield
        finally:
            registry_class.from_torchlib = original


def export_onnx(model: nn.Module, input_shape: tuple[int, ...], path: Path) -> Path:
    """Export ``model`` (in eval mode) to a single ONNX file with a dynamic batch dimension."""
    from zenopt.models.onnx_file import export_graph, stored_graph

    model.eval()
    if stored_graph(model) is not None:  # an ONNX graph kept as it came: written, not traced
        return export_graph(model, input_shape, path)
    example = (torch.zeros((2, *input_shape)),)
    batch = torch.export.Dim("batch", min=1)
    tmp = path.with_name(f".{path.name}.export")
    quiet = io.StringIO()
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(quiet),
            contextlib.redirect_stderr(quiet),
            _reused_operator_registry(),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                example,
                str(tmp),
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: batch},),
                opset_version=OPSET,
                dynamo=True,
                external_data=False,
                verbose=False,
            )
    except Exception as exc:
        first = first_line(exc)
        raise ExportError(f"ONNX export of the model failed: {first}") from exc
    finally:
        onnx_logger.setLevel(level)
    atomic_write_bytes(path, tmp.read_bytes())
    tmp.unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class ExportCheck:
    samples: int
    max_abs_diff: float
    atol: float
    rtol: float
    outputs_close: bool
    prediction_mismatches: int

    @property
    def ok(self) -> bool:
        return self.outputs_close and self.prediction_mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify_export(
    model: nn.Module, onnx_path: Path, X: np.ndarray, head: str, threads: int = 1
) -> ExportCheck:
    """Run ``X`` through PyTorch and ONNX Runtime; raise :class:`ExportError` if they disagree.

    ONNX Runtime runs ``X`` as one batch and, since the deployed model also serves one sample
    at a time, its first rows again at batch 1; both must match PyTorch.
    """
    model.eval()
    with torch.inference_mode():
        expected = model(torch.from_numpy(X)).numpy()
    if not np.all(np.isfinite(expected)):
        raise ExportError("the trained model outputs NaN or inf; lower train.lr and run again")
    session = make_session(onnx_path, threads)
    name = session.get_inputs()[0].name
    batched = session.run(None, {name: X})[0]
    if batched.shape != expected.shape:
        raise ExportError(
            f"{onnx_path}: ONNX output shape {batched.shape} differs from PyTorch {expected.shape}"
        )
    n_single = min(SINGLE_ROWS, len(X))
    single = np.concatenate([session.run(None, {name: X[i : i + 1]})[0] for i in range(n_single)])
    runs = [(batched, expected), (single, expected[:n_single])]
    outside = [np.abs(got - ref) > ATOL + RTOL * np.abs(ref) for got, ref in runs]
    close = not any(bool(o.any()) for o in outside)
    if head == "identity":  # a regression prediction differs when it is outside tolerance
        mismatches = sum(int(o.any(axis=1).sum()) for o in outside)
    else:
        mismatches = sum(
            int(np.sum(decode_outputs(got, head) != decode_outputs(ref, head))) for got, ref in runs
        )
    max_diff = max(float(np.abs(got - ref).max(initial=0.0)) for got, ref in runs)
    check = ExportCheck(int(X.shape[0]) + n_single, max_diff, ATOL, RTOL, close, mismatches)
    if not check.ok:
        raise ExportError(
            f"{onnx_path}: ONNX Runtime does not reproduce PyTorch: max |diff| "
            f"{check.max_abs_diff:.3g} (tolerance {ATOL} + {RTOL}·|y|), "
            f"{mismatches} of {check.samples} predictions differ; the model cannot be deployed"
        )
    return check
