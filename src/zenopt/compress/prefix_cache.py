"""Plans that share a prefix share its work: the state after each costly step (pruning with
its fine-tuning, distillation, calibration and quantization) is saved under a key made from
the baseline model, the seed and the steps so far, and a later plan starting the same way
resumes from the longest saved prefix. The cache lives on disk, so it survives a restart.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from zenopt.compress._base import CompressContext, CompressState
from zenopt.compress.plan import apply_plan
from zenopt.core.compress_config import Runtime, Step
from zenopt.core.rundir import atomic_write_bytes, atomic_write_text
from zenopt.models import DeployableModel, ModelSpec, load_deployable, save_deployable

__all__ = ["PrefixCache", "model_digest"]


def model_digest(model: DeployableModel) -> str:
    """A digest of the model's weights: a retrained (different) baseline never hits the cache."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class PrefixCache:
    def __init__(self, folder: Path, baseline: str, seed: int) -> None:
        self.folder = folder
        self.baseline = baseline
        self.seed = seed
        self.hits: list[int] = []  # prefix lengths served from the cache, per apply()

    def key(self, steps: list[Step]) -> str:
        text = json.dumps(
            [self.baseline, self.seed, [s.model_dump(mode="json") for s in steps]],
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def _save(self, steps: list[Step], state: CompressState) -> None:
        final = self.folder / self.key(steps)
        if final.exists():
            return
        # A folder of this process's own: the run and its workers may save the same prefix
        # at once into the shared cache; the first to rename wins, the others drop theirs.
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            save_deployable(state.model, state.spec, tmp)
            if state.onnx is not None:
                atomic_write_bytes(tmp / "model.onnx", state.onnx)
            meta = {"notes": state.notes, "runtime": state.runtime, "threads": state.threads}
            atomic_write_text(tmp / "state.json", json.dumps(meta, default=str))
            tmp.rename(final)  # complete or absent: a killed process leaves only a .tmp
        except OSError:
            if not final.exists():  # not a lost race: a real failure to save
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _load(self, steps: list[Step]) -> CompressState | None:
        folder = self.folder / self.key(steps)
        if not (folder / "state.json").is_file():
            return None
        model, spec = load_deployable(folder)
        meta = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        onnx = folder / "model.onnx"
        return CompressState(
            model.eval(),
            spec,
            onnx=onnx.read_bytes() if onnx.is_file() else None,
            runtime=meta["runtime"],
            threads=meta["threads"],
            notes=list(meta["notes"]),
        )

    def apply(
        self,
        steps: list[Step],
        model: DeployableModel,
        spec: ModelSpec,
        ctx: CompressContext,
        on_step: Callable[[Step], None] | None = None,
    ) -> CompressState:
        """``apply_plan`` with the longest cached prefix skipped and each costly step saved."""
        start: tuple[int, CompressState] | None = None
        for n in range(len(steps), 0, -1):
            if isinstance(steps[n - 1], Runtime):
                continue
            state = self._load(steps[:n])
            if state is not None:
                start = (n, state)
                break
        self.hits.append(start[0] if start else 0)

        def save(i: int, state: CompressState) -> None:
            if not isinstance(steps[i], Runtime):
                self._save(steps[: i + 1], state)

        return apply_plan(steps, model, spec, ctx, on_step, start, save)
