"""The export box: the carried-on model saved as safetensors + model.json, exported to ONNX,
and proof (on the validation rows) that the ONNX model reproduces PyTorch."""

from __future__ import annotations

from zenopt.flow.context import Baseline, RunContext, RunRecord
from zenopt.models import save_deployable
from zenopt.runtime.export import export_onnx, verify_export

__all__ = ["export_stage"]


def export_stage(ctx: RunContext, trained: Baseline, record: RunRecord) -> Baseline:
    """Save and export the model; the baseline with its files (``spec``, ``safetensors``,
    ``onnx``)."""
    model, spec = trained.model, trained.spec
    with record.timed("export_s"):
        files = save_deployable(model, spec, ctx.run_dir)
        files["onnx"] = export_onnx(model, spec.input_shape, ctx.run_dir / "model.onnx")
        check = verify_export(model, files["onnx"], ctx.splits.val.X, spec.head)
    record.manifest["export"] = {"onnx_max_abs_diff": check.max_abs_diff, **check.to_dict()}
    record.manifest["artifacts"] = {k: p.name for k, p in files.items()}
    return Baseline(model, spec, files)
