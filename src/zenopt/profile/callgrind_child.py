"""The process ``zenopt.profile.instructions`` runs under ``valgrind --tool=callgrind``.

``python -m zenopt.profile.callgrind_child JOB.json``: loads every model of the job at one
thread (ONNX Runtime with spinning off: a spinning thread pool breaks repeatability), turns
callgrind's instrumentation on (it starts off, so the imports run at Valgrind's plain speed),
then, per model and batch, after a warm-up, counts ``repeats`` blocks of ``calls`` inferences
(after one more block, dropped as a warm-up).
Each block is bracketed by the toggles ``torch.utils.benchmark``'s ``collect_callgrind`` uses
(``torch._C._valgrind_toggle`` / ``_valgrind_toggle_and_dump_stats``), so each lands in its
own dump file; the blocks' labels go to ``dumps.json`` in dump order.

Exit code 3: callgrind_control could not turn instrumentation on: the first block counted
nothing (the parent then runs the job again with instrumentation on from the start).
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

NO_CONTROL = 3
CONTROL_TIMEOUT_S = 120.0
TARGET = 2_000_000  # instructions per counted block, at least
MAX_CALLS = 1000
_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def dump_total(path: Path) -> int:
    """The instruction total of one callgrind dump file."""
    found = _TOTAL.search(path.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"{path.name}: no instruction total in callgrind's output")
    return int(found.group(1))


def _instrumentation_on() -> None:
    """Ask callgrind, through ``callgrind_control`` (vgdb), to start instrumenting. This
    process keeps running Python meanwhile instead of blocking in ``wait``: valgrind then
    notices vgdb's request by polling, and vgdb needs no ptrace (which Yama's
    ``ptrace_scope=1``, the default on Ubuntu, refuses to a process's own child). Whether it
    worked is seen in the first block's count (callgrind_control says OK either way)."""
    try:
        control = subprocess.Popen(
            ["callgrind_control", "--instr=on", str(os.getpid())],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:  # no callgrind_control (or no perl): the first block counts 0
        return
    deadline = time.monotonic() + CONTROL_TIMEOUT_S
    while control.poll() is None and time.monotonic() < deadline:
        sum(range(10_000))  # keep running guest code: valgrind polls for vgdb between blocks
    if control.poll() is None:
        control.kill()
        control.wait()


def _load(model: dict[str, Any]) -> Any:
    """A call ``run(feeds)`` for the model as deployed, at one thread."""
    from zenopt.runtime.onnx_runtime import make_session
    from zenopt.runtime.predictor import create_predictor

    path = Path(model["path"])
    if model["runtime"] == "onnxfile":  # any ONNX file, its inputs by name
        session = make_session(path, 1, spinning=False)
        return lambda feeds: session.run(None, feeds)
    predictor: Any = create_predictor(model["runtime"])
    if hasattr(predictor, "spinning"):
        predictor.spinning = False
    predictor.load(path, 1)
    return lambda feeds: predictor.predict(feeds["x"])


class _Blocks:
    """Counted blocks of calls, each toggled on and off and dumped to its own numbered file;
    every block's label is kept, in dump order."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.dumps: list[dict[str, Any]] = []

    def count(self, run: Any, feeds: dict[str, np.ndarray], calls: int, **label: Any) -> int:
        """Count ``calls`` inferences in one block; returns the instructions it took."""
        import torch

        gc.collect()
        gc.disable()
        torch._C._valgrind_toggle()
        for _ in range(calls):
            run(feeds)
        torch._C._valgrind_toggle_and_dump_stats()
        gc.enable()
        self.dumps.append({**label, "calls": calls})
        return dump_total(Path(f"{self.out}.{len(self.dumps)}"))


def _sized(per_call: float) -> int:
    """Calls per block for at least ``TARGET`` instructions (at most ``MAX_CALLS``)."""
    return int(min(MAX_CALLS, max(1, math.ceil(TARGET / max(per_call, 1.0)))))


def _measure(
    blocks: _Blocks, run: Any, feeds: dict[str, np.ndarray], job: dict[str, Any], **label: Any
) -> bool:
    """The first call, counted alone and dropped, warms up and sizes the blocks: enough calls
    for ``TARGET`` instructions, so that a stray allocation is a small part of a block. Then
    one more block, dropped too, sizes them again: the block after the first call still runs
    first-time paths (measured: 2% more at batch 1, 1.2% for one call at batch 256). A small
    model gets the rest of the warm-up calls before it; a big one does not (under callgrind a
    small CNN runs some 5 million instructions a second: a call at batch 256 takes minutes).
    Then ``repeats`` blocks."""
    one = blocks.count(run, feeds, 1, warm=True, **label)
    if one <= 0:  # instrumentation is off: callgrind_control did not reach callgrind
        return False
    calls = _sized(one)
    for _ in range(job["warmup"] - 1 if calls > 1 else 0):
        run(feeds)
    calls = _sized(blocks.count(run, feeds, calls, warm=True, **label) / calls)
    for _ in range(job["repeats"]):
        blocks.count(run, feeds, calls, warm=False, **label)
    return True


def main(job_file: str) -> int:
    import torch

    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    torch.set_num_threads(1)
    runs = {m["label"]: _load(m) for m in job["models"]}
    if not job["instrumented"]:
        _instrumentation_on()
    blocks = _Blocks(job["out"])
    with torch.inference_mode():
        for model in job["models"]:
            for batch in job["batches"]:
                with np.load(model["inputs"][str(batch)]) as data:
                    feeds = {name: data[name] for name in data.files}
                label = {"label": model["label"], "batch": batch}
                if not _measure(blocks, runs[model["label"]], feeds, job, **label):
                    return NO_CONTROL
    Path(job["dumps"]).write_text(json.dumps(blocks.dumps), encoding="utf-8")
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1])
    # Instrumentation is still on: the interpreter's teardown (torch's modules freed one by
    # one) would run under it, 7 s for nothing counted (measured); leave without it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
