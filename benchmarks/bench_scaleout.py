"""Co-located processes on one machine and one PostgreSQL study: do more processes finish sooner?

1. A fixed 12-trial quality search (breast_cancer, mlp, 60 epochs, random sampler, no pruning,
   no target to stop it) run by 1, 2 and 3 `zenopt worker` processes, each training with its
   share of the host's cores (the default), and by 2 processes that each train with all the
   cores (threads left at the library default, `--threads <cores>`): the problem this thread
   budget fixes. Two interleaved rounds of the four configurations; each ratio is to the
   one-process time of its own round.
2. A fixed 6-plan efficiency search (digits 16×16, mnist_cnn, pruning ratios and one
   speed target, so that plans are speed-checked before training) run by `zenopt run` plus 0,
   1 and 2 `zenopt worker` processes: wall time, the plans counted, how each ended, and the
   time the host lock made timings wait for training.

Wall time is from the first process's start to the last one's end; one configuration at a
time, on an otherwise idle machine. Writes a section of benchmarks/RESULTS.md.

    make bench      # or: .venv/bin/python benchmarks/bench_scaleout.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/postgres.py: a throw-away server
from tests import postgres

from results_file import write_section  # type: ignore[import-not-found]
from zenopt.profile.machine import fingerprint
from zenopt.tune.hosts import host_cores

QUALITY = """\
data: {{source: breast_cancer}}
model: {{name: mlp}}
train: {{epochs: 60, patience: null}}
tune:
  when: always
  trials: 12
  timeout_min: null
  sampler: random
  pruner: none
  space:
    train.lr: {{type: float, low: 1.0e-3, high: 1.0e-2, log: true}}
    model.params.width: {{type: int, low: 128, high: 512, log: true}}
    train.batch_size: {{type: categorical, choices: [16, 32]}}
bench: {{host_lock: {lock}}}
"""
SEARCH = [
    "data.source=digits",
    "data.resize=16",
    "model.name=mnist_cnn",
    "train.epochs=3",
    "tune.when=never",
    "compress.search.when=always",
    "compress.search.trials=6",
    "compress.search.sampler=random",
    "compress.search.prune_epochs=2",
    "compress.search.space.prune_ratio=[0.25, 0.5, 0.75]",
    "compress.search.space.distill=[false, true]",
    "compress.search.space.quantize=[none, dynamic]",
    "compress.search.space.precision=[none]",
    "compress.search.space.runtime=[onnxruntime]",
    "requirements.min_throughput_speedup=3",
    "requirements.max_quality_drop=0.05",
    "bench.confirm_rounds=3",
    "analysis.operators=false",
    "analysis.scaling=false",
    "analysis.memory=false",
    "analysis.ceiling=false",
]


def _zenopt(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "zenopt", *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"a process failed ({proc.returncode}): {err.strip()[-400:]}")


def _spread(values: list[float], digits: int) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def quality(url: str, folder: Path, name: str, processes: int, threads: int | None) -> dict:  # type: ignore[type-arg]
    config = folder / f"{name}.yaml"
    config.write_text(QUALITY.format(lock=folder / "host.lock"))
    extra = ["--threads", str(threads)] if threads else []
    args = ["worker", "--storage", url, "--study", name, "--config", str(config), "-q", *extra]
    args += ["--artifacts", str(folder / "trials")]
    tick = time.perf_counter()
    _wait([_zenopt(*args) for _ in range(processes)])
    wall = time.perf_counter() - tick
    study = optuna.load_study(study_name=name, storage=url.replace("://", "+psycopg://", 1))
    done = [t for t in study.trials if t.state.is_finished() and not t.user_attrs.get("skipped")]
    shares = sorted({t.user_attrs.get("train_threads") for t in done} - {None})
    return {"wall_s": wall, "trials": len(done), "per_min": 60 * len(done) / wall, "shares": shares}


def search(url: str, folder: Path, name: str, workers: int) -> dict:  # type: ignore[type-arg]
    lock = folder / "host.lock"
    overrides = [*SEARCH, f"tune.storage={url}", f"tune.study={name}", f"bench.host_lock={lock}"]
    sets = [a for item in overrides for a in ("--set", item)]
    tick = time.perf_counter()
    joiners = [
        _zenopt("worker", "--storage", url, "--study", f"{name}-compress", "--wait", "600", "-q")
        for _ in range(workers)
    ]
    run = _zenopt("run", "-o", str(folder / name), "-q", *sets)
    _wait([run, *joiners])
    wall = time.perf_counter() - tick
    manifest = json.loads((folder / name / "manifest.json").read_text())
    counts = manifest["search"]["counts"]
    return {
        "wall_s": wall,
        "search_s": manifest["timings"].get("search_s"),
        "counted": counts["counted"],
        "trained": counts["measured"],
        "rejected_before_training": counts["rejected_before_training"],
        "repeats": counts["repeated_plans"],
        "free": counts["trials"] - counts["counted"],
        "waited_s": manifest["host_lock"]["exclusive"]["waited_s"],
    }


def main() -> None:
    cores = host_cores()
    flags = " ".join(
        f for f in fingerprint()["cpu_flags"] if f in {"avx2", "avx512f", "avx512_vnni"}
    )
    with postgres.postgres_server() as url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        configs = ((1, None), (2, cores), (2, None), (3, None))
        walls: dict[tuple[int, int | None], list[dict[str, Any]]] = {c: [] for c in configs}
        for round_ in range(2):
            for processes, threads in configs:
                name = f"q{processes}-{threads or 'share'}-{round_}"
                walls[(processes, threads)].append(quality(url, folder, name, processes, threads))
                print(name, walls[(processes, threads)][-1], flush=True)
        rows = [(p, t, runs) for (p, t), runs in walls.items()]
        plans = []
        for workers in (0, 1, 2):
            plans.append((workers + 1, search(url, folder, f"s{workers + 1}", workers)))
            print(workers + 1, plans[-1][1], flush=True)
    write_section("scaleout", _section(cores, flags, rows, plans))


def _section(cores: int, flags: str, rows: list[Any], plans: list[Any]) -> str:
    ones = [r["wall_s"] for r in rows[0][2]]
    lines = [
        f"## Co-located processes on one {cores}-core machine, one PostgreSQL study ({flags})",
        "",
        "Quality search: 12 trials (breast_cancer, mlp 128–512 wide, 60 epochs, random sampler, "
        "no pruning), `zenopt worker` processes started together; 2 interleaved rounds, median "
        "(min–max).",
        "",
        "| processes | training threads each | wall s | trials/min | × one process |",
        "|---:|---|---:|---:|---:|",
    ]
    for processes, threads, runs in rows:
        how = f"{threads} (library default, --threads {threads})" if threads else "its share"
        shares = "/".join(str(s) for s in sorted({x for r in runs for x in r["shares"]}))
        wall = [r["wall_s"] for r in runs]
        ratio = [w / one for w, one in zip(wall, ones, strict=True)]
        lines.append(
            f"| {processes} | {how}: {shares} | {_spread(wall, 1)} | "
            f"{_spread([60 * 12 / w for w in wall], 1)} | {_spread(ratio, 2)} |"
        )
    lines += [
        "",
        "Efficiency search: 6 counted plans (digits 16×16, mnist_cnn; a ×3 throughput target, "
        "so plans are speed-checked before training), `zenopt run` plus workers.",
        "",
        "| processes | wall s | search s | counted | trained | rejected before training | "
        "repeats answered | free | timings' wait for training, s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for processes, r in plans:
        lines.append(
            f"| {processes} | {r['wall_s']:.1f} | {r['search_s'] or 0:.1f} | {r['counted']} | "
            f"{r['trained']} | {r['rejected_before_training']} | {r['repeats']} | {r['free']} | "
            f"{r['waited_s']:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
