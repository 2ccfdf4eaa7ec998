"""``--trace itt`` and ``--trace nvtx`` seen by a collector, through the hook VTune and Nsight
Systems use: a tiny collector (``tests/collector/trace_collector.c``), compiled here with the
system C compiler, is named by ``INTEL_LIBITTNOTIFY64`` / ``NVTX_INJECTION64_PATH`` and logs
every range begin and end. The ranges must balance per thread, nest as the flow runs, and name
what the run's manifest says happened (its search trials with their plans, its compression
steps).

One ``zenopt run`` (iris, a wide MLP, a 2-plan efficiency search) is traced with ITT and also counts
instructions (``analysis.instructions``) for the three models; a ``zenopt compress`` of that
run is traced with NVTX.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FAST_BENCH

COLLECTOR = Path(__file__).parents[1] / "collector" / "trace_collector.c"

RUN = [
    *(item for item in FAST_BENCH if not item.startswith("compress.")),
    "data.source=iris",
    "model.name=mlp",
    # wide enough that a pruned plan is faster than the FP32 baseline beyond the noise of a
    # busy machine (an MLP of iris's default width is all call overhead, and was not)
    "model.params.hidden=[512, 512]",
    "train.epochs=3",
    "requirements.min_size_reduction=1.5",  # the FP32 baseline is 1×: the search runs
    "requirements.max_quality_drop=1",
    "compress.search.trials=2",
    "compress.search.startup_trials=2",
    "compress.search.rounds=3",
    "compress.search.prune_epochs=1",
    "compress.search.space.prune_ratio=[0.5, 0.75]",
    "compress.search.space.distill=[false]",
    "compress.search.space.quantize=[none]",
    "compress.search.space.precision=[none]",
    "compress.search.space.runtime=[onnxruntime]",
    "compress.search.space.threads=[null]",
    "analysis.explain=false",
    "analysis.instructions=true",
    "analysis.instruction_batches=[1]",  # importing torch under valgrind is slow: b1 only
]


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the test collector")
    lib = tmp_path_factory.mktemp("collector") / "libtrace_collector.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O1", "-o", str(lib), str(COLLECTOR), "-ldl", "-lpthread"],
        check=True,
    )
    return lib


def _zenopt(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zenopt", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )


DOMAIN = {"itt": "PyTorch", "nvtx": "zenopt"}  # zenopt's ITT ranges are in PyTorch's domain


def _lines(log: Path) -> list[list[str]]:
    """api, event, pid, tid, domain, name (empty for an end)."""
    return [line.split(" ", 5) for line in log.read_text().splitlines()]


def _ranges(log: Path, api: str, pid: int) -> list[tuple[str, tuple[str, ...]]]:
    """zenopt's ranges in ``pid`` as (name, the names of the ranges it sits in), after
    checking that begins and ends balance on every thread. Other domains (oneDNN opens an ITT
    task per primitive inside PyTorch) are left out."""
    stacks: dict[str, list[str]] = defaultdict(list)
    seen: list[tuple[str, tuple[str, ...]]] = []
    for kind, event, who, tid, domain, *name in _lines(log):
        if kind != api or int(who) != pid or domain != DOMAIN[api]:
            continue
        if event == "B":
            seen.append((name[0] if name else "", tuple(stacks[tid])))
            stacks[tid].append(name[0] if name else "")
        else:
            assert stacks[tid], f"a range ended on thread {tid} that never began"
            stacks[tid].pop()
    assert all(not s for s in stacks.values()), f"unclosed ranges: {dict(stacks)}"
    return seen


def _main_pid(log: Path, api: str, first: str) -> int:
    for kind, event, who, _tid, domain, *name in _lines(log):
        if kind == api and event == "B" and domain == DOMAIN[api] and name == [first]:
            return int(who)
    raise AssertionError(f"no {api} range named {first!r} in the log")


def _inside(seen: list[tuple[str, tuple[str, ...]]], name: str) -> tuple[str, ...]:
    return next(parents for n, parents in seen if n == name)


@pytest.fixture(scope="module")
def traced_run(collector: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("traced")
    log = folder / "itt.log"
    sets = [arg for item in RUN for arg in ("--set", item)]
    done = _zenopt(
        ["run", "-o", str(folder / "run"), "-q", "--trace", "itt", *sets],
        {"INTEL_LIBITTNOTIFY64": str(collector), "ZENOPT_TRACE_LOG": str(log)},
    )
    assert done.returncode in (0, 1), done.stderr
    manifest = json.loads((folder / "run" / "manifest.json").read_text())
    return {"folder": folder, "log": log, "manifest": manifest, "stderr": done.stderr}


@pytest.mark.slow
def test_itt_ranges_nest_as_the_flow_runs(traced_run: dict[str, Any]) -> None:
    log, manifest = traced_run["log"], traced_run["manifest"]
    assert "no collector is attached" not in traced_run["stderr"]
    seen = _ranges(log, "itt", _main_pid(log, "itt", "run"))
    names = [n for n, _ in seen]
    assert seen[0] == ("run", ())
    stages = [n for n, parents in seen if parents == ("run",)]
    # Every stage of the flow, in order, directly inside the run.
    order = ["data", "train", "quality", "export", "profile", "search", "confirm", "speed"]
    assert [s for s in stages if s in order] == order
    assert stages[-1] == "analysis"
    # Each search trial, named with its plan as the manifest records it, holds its
    # compression steps (the last ones are the plan's, in order) and its timed rounds.
    trials = {t["trial"]: t["plan"] for t in manifest["search"]["candidates"]}
    assert sorted(trials) == [0, 1]
    for number, plan in trials.items():
        trial = f"search trial {number}: {plan}"
        assert _inside(seen, trial) == ("run", "search")
        inside = [n for n, parents in seen if parents[-1:] == (trial,)]
        steps = [n.removeprefix("compress ") for n in inside if n.startswith("compress ")]
        assert steps[-2:] == plan.split(" -> ")
        assert "round 1" in inside and "round 3" in inside, inside
    # Timed blocks: the profile stage times each backend; the speed session's rounds hold a
    # timed block per model at both batches.
    assert ("time onnxruntime b1", ("run", "profile")) in seen
    rounds = [n for n, parents in seen if parents == ("run", "speed") and n.startswith("round")]
    assert rounds == [f"round {r}" for r in range(1, manifest["speed"]["rounds"] + 1)]
    in_round = {n for n, parents in seen if parents == ("run", "speed", "round 1")}
    for model in manifest["speed"]["models"]:
        assert {f"time {model} b1", f"time {model} b8"} <= in_round
    assert "analysis instructions" in names


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="needs valgrind (make test has it)")
def test_instructions_are_counted_for_the_three_models(traced_run: dict[str, Any]) -> None:
    counts = traced_run["manifest"]["analysis"]["instructions"]
    assert set(counts["models"]) == {"torch FP32", "onnxruntime FP32", "chosen"}
    for label, batches in counts["models"].items():
        assert set(batches) == {"b1"}, label
        for row in batches.values():
            assert row["per_inference"] > 1000
            assert len(row["repeats"]) == counts["repeats"] == 3
            assert 2 * row["spread"] < 0.01, (label, row)  # blocks repeat within 1%
    # The wide MLP's two 512×512 products alone are 262,144 multiply-adds per row, at most 8
    # per AVX2 instruction: every FP32 model runs at least 32,768 instructions per inference.
    for label in ("torch FP32", "onnxruntime FP32"):
        assert counts["models"][label]["b1"]["per_inference"] > 32_768
    # The chosen plan pruned those products: fewer instructions than ONNX Runtime FP32.
    chosen = counts["models"]["chosen"]["b1"]["per_inference"]
    assert chosen < counts["models"]["onnxruntime FP32"]["b1"]["per_inference"]
    from zenopt.track.record import tracking_record

    metrics = tracking_record(traced_run["manifest"]).metrics
    assert metrics["analysis.instructions.models.chosen.b1.per_inference"] == chosen
    report = (traced_run["folder"] / "run" / "report.html").read_text()
    assert "Instructions per inference (Valgrind)" in report and "AVX2" in report


@pytest.mark.slow
def test_nvtx_ranges_of_a_compression(traced_run: dict[str, Any], collector: Path) -> None:
    folder = traced_run["folder"]
    log = folder / "nvtx.log"
    done = _zenopt(
        ["compress", str(folder / "run"), "--plan", "prune(ratio=0.5)", "-q", "--trace", "nvtx"],
        {"NVTX_INJECTION64_PATH": str(collector), "ZENOPT_TRACE_LOG": str(log)},
    )
    assert done.returncode in (0, 1), done.stderr
    record = json.loads(next((folder / "run" / "compressed").glob("*/candidate.json")).read_text())
    lines = log.read_text().splitlines()
    assert lines and all(line.startswith("nvtx ") for line in lines)  # ITT was not named
    step = f"compress {record['plan'].split(' -> ')[0]}"
    assert step.startswith("compress prune(ratio=0.5")
    seen = _ranges(log, "nvtx", _main_pid(log, "nvtx", step))
    assert (step, ()) in seen
    timed = {n for n, parents in seen if n.startswith("time ") and not parents}
    assert {"time onnxruntime b1", "time onnxruntime b8"} <= timed
