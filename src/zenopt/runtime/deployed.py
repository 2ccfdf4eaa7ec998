"""The model a run hands back: where its files are, the runtime it is deployed in, and whether
its PyTorch form computes what it deploys (an INT8 or fp16 model exists only as ONNX).

``predict``, ``test_predictions.csv`` and the report's per-class tables all use the model the
verdict names as deployed; this is how each of them finds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zenopt.core.errors import ModelError

__all__ = [
    "DeployedModel",
    "candidate_model",
    "deploy_path",
    "deployed_model",
    "read_candidate",
    "resolve_model",
]

# Steps after which the PyTorch form in the folder is no longer the model that is deployed.
_ONNX_ONLY_METHODS = {"quantize", "qat"}


def deploy_path(files: dict[str, Path], runtime: str) -> Path:
    """The file a runtime loads: the ONNX model, or model.json (with its safetensors)."""
    return files["onnx"] if runtime == "onnxruntime" else files["spec"]


@dataclass(frozen=True)
class DeployedModel:
    label: str  # "search/trial-00003", "compressed/NAME", or "the FP32 export"
    folder: Path
    runtime: str
    threads: int | None
    onnx_only: bool = False

    @property
    def graph_only(self) -> bool:
        """Whether the model is an ONNX graph kept as it came (``model.name: onnx_file``)."""
        spec = self.folder / "model.json"
        try:
            return bool(json.loads(spec.read_text(encoding="utf-8")).get("name") == "onnx_file")
        except (OSError, ValueError):
            return False

    def file(self, backend: str) -> Path:
        """The file ``backend`` loads to compute this model's outputs; a one-line error when
        this model has no such form."""
        if backend == "onnxruntime":
            path = self.folder / "model.onnx"
            if not path.is_file() and self.runtime != "onnxruntime":
                raise ModelError(
                    f"{self.label} has no model.onnx: it is deployed in {self.runtime}; use "
                    f"--backend {self.runtime}"
                )
        elif self.graph_only:
            raise ModelError(
                f"{self.label} is an ONNX graph with no PyTorch form (zenopt's converter could "
                "not take it); use --backend onnxruntime (the default)"
            )
        elif self.onnx_only:
            raise ModelError(
                f"{self.label} exists only as ONNX (INT8 or fp16): its model.json is the "
                f"PyTorch form before that step, not the deployed model; use --backend "
                "onnxruntime (the default)"
            )
        else:
            path = self.folder / "model.json"
        if not path.is_file():
            raise ModelError(
                f"{path} is missing: the folder of {self.label} is incomplete; run zenopt run "
                "(or zenopt compress) again to write it"
            )
        return path


def _onnx_only(record: dict[str, Any]) -> bool:
    if "onnx_only" in record:
        return bool(record["onnx_only"])
    steps = record.get("steps", [])
    return any(
        s.get("method") in _ONNX_ONLY_METHODS
        or (s.get("method") == "precision" and s.get("dtype") == "fp16")
        for s in steps
    )


def candidate_model(folder: Path, record: dict[str, Any], label: str) -> DeployedModel:
    """A candidate folder (``search/trial-NNNNN``, ``compressed/NAME``) and its record."""
    return DeployedModel(
        label, folder, str(record["runtime"]), record.get("threads"), _onnx_only(record)
    )


def deployed_model(run_dir: Path, manifest: dict[str, Any]) -> DeployedModel:
    """What a run's verdict names as deployed: the chosen candidate, else the FP32 export in
    the requirements' runtime."""
    candidate = (manifest.get("compress") or {}).get("candidate")
    if candidate:
        return candidate_model(run_dir / candidate["folder"], candidate, candidate["folder"])
    backend = manifest["config"]["requirements"]["backend"]
    threads = manifest["config"]["bench"].get("threads")
    return DeployedModel("the FP32 export", run_dir, backend, threads)


def read_candidate(folder: Path) -> dict[str, Any]:
    """A candidate folder's ``candidate.json``, or a one-line error."""
    path = folder / "candidate.json"
    try:
        record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the candidate's record ({exc})") from None
    return record


def resolve_model(path: Path, complete: bool = True) -> tuple[dict[str, Any], DeployedModel]:
    """The run's manifest and the model a command works on: what the run in ``path``
    deployed, or the candidate in a folder of it (``RUN/compressed/NAME``,
    ``RUN/search/trial-NNNNN``)."""
    from zenopt.core.errors import ConfigError
    from zenopt.core.rundir import read_manifest

    if not (path / "candidate.json").is_file():
        manifest = read_manifest(path, complete)
        return manifest, deployed_model(path, manifest)
    run = path.resolve().parent.parent
    if not (run / "manifest.json").is_file():
        raise ConfigError(
            f"{path}: a candidate folder outside a run folder; pass RUN/compressed/NAME or "
            "RUN/search/trial-NNNNN as the run wrote it (its manifest gives the data format)"
        )
    label = str(path.resolve().relative_to(run))
    return read_manifest(run, complete), candidate_model(path, read_candidate(path), label)
