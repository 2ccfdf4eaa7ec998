"""Serving under load: the default job's deployed model and its PyTorch eager FP32 baseline
behind the same ``zenopt serve``, measured open loop (``zenopt.serve.load``).

For each model:

1. the in-process ceiling: the same model called directly, one row per call, in its runtime
   (calls per second, median of 5 rounds of 2 s);
2. the saturation rate: offered rates doubling from 100/s (binary tensors, batching on) until
   the server answers under 90% of what was offered, then 3 bisections between the last rate
   it kept up with and the first it did not; the most answered per second;
3. p50/p99 (with 95% intervals) at 50% and 80% of that rate, batching off (``--max-batch 1``)
   and on (``--max-batch 32 --max-delay-us 500``), JSON and binary, with where the time went
   in the server: medians over the requests of their Server-Timing parts; the server's own
   cost is ``own``, each request's time in the app less its runtime call.

Then, for the deployed model, in interleaved rounds: ``--inline-us 0`` against ``200``, and
ONNX Runtime's threads spinning or not (``--spin``/``--no-spin`` at 2 threads, and 1
thread); the load generator's CPU per request against httpx's; what a CPU coming back from
idle costs. The eager baseline is the run's FP32 model served in PyTorch (``zenopt
compress RUN --plan 'runtime(name=torch)'``, made once). Needs a finished ``make run``.

    .venv/bin/python benchmarks/bench_serve.py [--run runs/default] [--requests 2000]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

import serve_figures as figures  # type: ignore[import-not-found]
import serve_report  # type: ignore[import-not-found]
from results_file import write_section  # type: ignore[import-not-found]
from zenopt.cli.app import app
from zenopt.core.config import RunConfig
from zenopt.core.serve_config import ServeConfig
from zenopt.serve.model import load_served
from zenopt.serve.tuning import Knobs, measure, sample_request, serving

BATCHED = Knobs(max_batch=32, max_delay_us=500)
UNBATCHED = Knobs(max_batch=1, max_delay_us=0)


def _eager(run: Path) -> Path:
    folder = run / "compressed" / "bench-eager"
    if not (folder / "candidate.json").is_file():
        args = ["compress", str(run), "--plan", "runtime(name=torch)", "--name", "bench-eager"]
        CliRunner().invoke(app, [*args, "-q"])
    return folder


def _request(path: Path, binary: bool) -> tuple[bytes, dict[str, str]]:
    served = load_served(path, None, None)
    manifest = served.manifest
    config = RunConfig.model_validate(manifest["config"])
    from zenopt.flow.data import prepare_data

    row = prepare_data(config).prepared.splits.test.X[0]
    encoder = (manifest["model"].get("inputs") or {}).get("encoder")
    return sample_request(served.signature, row, encoder, binary)


def _model(label: str, path: Path, requests: int) -> dict[str, Any]:
    config = ServeConfig(requests=requests)
    binary, json_body = _request(path, True), _request(path, False)
    out: dict[str, Any] = {"label": label, "ceiling": figures.ceiling(path), "path": path}
    out["saturation"], out["ramp"] = figures.saturation(path, binary, config, BATCHED)
    out["points"] = []
    for knobs, batching in ((UNBATCHED, "off"), (BATCHED, "on")):
        with serving(path, knobs) as url:
            for encoding, request in (("binary", binary), ("JSON", json_body)):
                for share in (0.5, 0.8):
                    figure = measure(url, request, share * out["saturation"], config)
                    out["points"].append((batching, encoding, share, figure))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/default"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    deployed = _model("deployed (" + load_served(args.run, None, None).label + ")", args.run,
                      args.requests)  # fmt: skip
    eager = _model("PyTorch eager FP32", _eager(args.run), args.requests)
    binary = _request(args.run, True)
    config = ServeConfig(requests=args.requests)
    rates = [round(share * deployed["saturation"], -1) for share in (0.1, 0.5, 0.8, 0.95)]
    extra = {
        "rates": rates,
        "inline": figures.knob_ab(args.run, binary, config, rates, args.rounds, figures.INLINE),
        "spin": figures.knob_ab(args.run, binary, config, rates, args.rounds, figures.SPIN),
        "clients": figures.client_cost(args.run, binary, 200.0, args.requests, args.rounds),
        "cold": figures.cold_cpu(args.run, binary),
        "rounds": args.rounds,
    }
    section = serve_report.section([deployed, eager], extra, args.requests)
    print(section)
    write_section("serve", section)


if __name__ == "__main__":
    main()
