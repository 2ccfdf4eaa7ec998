"""Which HTTP stack and JSON library should serve the Open Inference Protocol (KServe v2) REST API?

The candidates (Starlette or FastAPI on uvicorn; h11 + asyncio or httptools + uvloop; stdlib json
or orjson) and the two payloads (JSON ``data`` and Triton's binary tensor extension) are in
``serve_stack_apps.py``; each runs in its own process, this script re-run with ``--serve``.

Client: one ``httpx.Client`` (HTTP/1.1 keep-alive), requests one after another, each timed with
``time.perf_counter_ns``; all servers start up front and idle while another is measured.
``--rounds`` rounds (7), the variants' order rotated each round so that drift hits all alike; in
each, every (stack, payload) variant gets ``--warmup`` (50) untimed and ``--requests`` (300)
timed sequential requests, then ``--threads`` (8) threads with a connection each send
``--per-thread`` (100) requests from a common start. Reported per variant: p50 and p99 latency
(median over rounds, min–max), the per-round p50 ratio to stack a, the server process's CPU time
per request (psutil) and the throughput at concurrency 8 with the CPU the client and server used.
The client is Python on the same cores, so end-to-end figures include its cost and the
throughput can be client-bound; server CPU per request is the server's cost alone. In process,
``timeit`` times the decoding steps alone (json vs orjson, pydantic, ``np.frombuffer``, the
model). Writes a section of benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_serve_stack.py            # about 90 s on 2 cores
"""

import argparse
import json
import os
import platform
import statistics
import threading
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import orjson

from results_file import write_section  # type: ignore[import-not-found]
from serve_stack_apps import (
    HEADER_LENGTH,
    INFER_PATH,
    N_VALUES,
    PAYLOADS,
    SHAPE,
    InferRequest,
    Payload,
    Server,
    check_answers,
    model,
    new_client,
    payloads,
    post,
    serve,
    start_servers,
    stop_servers,
    tensor_from_body,
)

FLAGS = {"avx2", "avx512f", "avx512_vnni"}  # as the other benchmarks report
Decoded = list[tuple[str, str, tuple[float, float, float]]]  # key, label, µs median/min/max


def sequential(client: httpx.Client, url: str, payload: Payload, n: int) -> list[int]:
    """Latency in ns of ``n`` requests sent one after another on one keep-alive connection."""
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        post(client, url, payload)
        latencies.append(time.perf_counter_ns() - t0)
    return latencies


@dataclass(frozen=True)
class Throughput:
    rps: float
    client_cpu_s: float  # this process, all threads, during the timed window
    server_cpu_s: float  # the server process during the timed window
    elapsed_s: float


def concurrent(
    url: str, payload: Payload, threads: int, per_thread: int, server_cpu: Callable[[], float]
) -> Throughput:
    """Throughput of ``threads`` closed-loop clients, each on its own connection."""
    clients = [new_client() for _ in range(threads)]
    for client in clients:  # connect outside the timed window
        post(client, url, payload)
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(client: httpx.Client) -> None:
        start.wait()
        try:
            for _ in range(per_thread):
                post(client, url, payload)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    workers = [threading.Thread(target=work, args=(c,)) for c in clients]
    for w in workers:
        w.start()
    server0 = server_cpu()
    start.wait()
    t0, client0 = time.perf_counter_ns(), time.process_time()
    for w in workers:
        w.join()
    elapsed = (time.perf_counter_ns() - t0) / 1e9
    client_cpu, server1 = time.process_time() - client0, server_cpu()
    for client in clients:
        client.close()
    if errors:
        raise errors[0]
    return Throughput(threads * per_thread / elapsed, client_cpu, server1 - server0, elapsed)


@dataclass
class Results:
    p50_ns: list[float] = field(default_factory=list)
    p99_ns: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    client_busy: list[float] = field(default_factory=list)  # CPU s per wall s, during the rps test
    server_busy: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0
    requests: int = 0

    @property
    def cpu_us(self) -> float:
        """Server CPU µs per request, all timed requests of all rounds."""
        return self.server_cpu_s / self.requests * 1e6

    def p50_vs(self, base: "Results") -> list[float]:
        """Per-round ratio of the p50 latency to ``base``'s in the same round."""
        return [v / b for v, b in zip(self.p50_ns, base.p50_ns, strict=True)]


def percentile(values: list[int], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def measure(
    servers: list[Server], data: dict[str, Payload], args: argparse.Namespace
) -> dict[tuple[str, str], Results]:
    variants = [(s, p) for s in servers for p in PAYLOADS if (s.stack.key, p) != ("d", "binary")]
    results = {(s.stack.key, p): Results() for s, p in variants}
    client = new_client()
    for r in range(args.rounds):
        t_round = time.perf_counter()
        shift = r % len(variants)
        for server, name in variants[shift:] + variants[:shift]:
            url, payload, res = server.url + INFER_PATH, data[name], results[server.stack.key, name]
            sequential(client, url, payload, args.warmup)
            cpu0 = server.cpu_s()
            latencies = sequential(client, url, payload, args.requests)
            cpu1 = server.cpu_s()
            rps = concurrent(url, payload, args.threads, args.per_thread, server.cpu_s)
            res.server_cpu_s += (cpu1 - cpu0) + rps.server_cpu_s
            res.requests += args.requests + args.threads * args.per_thread
            res.p50_ns.append(percentile(latencies, 50))
            res.p99_ns.append(percentile(latencies, 99))
            res.rps.append(rps.rps)
            res.client_busy.append(rps.client_cpu_s / rps.elapsed_s)
            res.server_busy.append(rps.server_cpu_s / rps.elapsed_s)
        print(f"  round {r + 1}/{args.rounds}: {time.perf_counter() - t_round:.1f} s", flush=True)
    client.close()
    return results


# ------------------------------------------------------------------------- in-process decoding


def time_call(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Median, min and max µs per call over ``repeats`` timeit runs of about 20 ms each."""
    timer = timeit.Timer(fn)
    number, total = timer.autorange()  # at least 0.2 s
    number = max(1, int(number * 0.02 / total))
    runs = [t / number * 1e6 for t in timer.repeat(repeat=repeats, number=number)]
    return statistics.median(runs), min(runs), max(runs)


def decoding(data: dict[str, Payload], repeats: int) -> Decoded:
    body, binary = data["json"].body, data["binary"]
    n = int(binary.headers[HEADER_LENGTH])
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((N_VALUES, 128), dtype=np.float32)
    w2 = rng.standard_normal((128, 10), dtype=np.float32)
    x = tensor_from_body(body, None, orjson.loads)
    flat = x.reshape(1, -1)
    response = {"model_name": "m", "outputs": [{"name": "value", "shape": [1], "data": [1.5]}]}

    def asarray(inp: dict[str, Any]) -> np.ndarray:
        return np.asarray(inp["data"], dtype=np.float32).reshape(inp["shape"])

    def validated(req: InferRequest) -> np.ndarray:
        return np.asarray(req.inputs[0].data, dtype=np.float32).reshape(req.inputs[0].shape)

    def mlp() -> np.ndarray:
        return np.maximum(flat @ w1, 0) @ w2

    cases: list[tuple[str, str, Callable[[], object]]] = [
        ("json", f"json.loads, JSON body ({len(body) / 1024:.1f} KiB)", lambda: json.loads(body)),
        ("orjson", "orjson.loads, JSON body", lambda: orjson.loads(body)),
        ("json+np", "json.loads + np.asarray", lambda: asarray(json.loads(body)["inputs"][0])),
        (
            "orjson+np",
            "orjson.loads + np.asarray",
            lambda: asarray(orjson.loads(body)["inputs"][0]),
        ),
        (
            "pydantic",
            "json.loads + pydantic model_validate + np.asarray (stack d's path)",
            lambda: validated(InferRequest.model_validate(json.loads(body))),
        ),
        (
            "pydantic_json",
            "pydantic model_validate_json + np.asarray",
            lambda: validated(InferRequest.model_validate_json(body)),
        ),
        (
            "binary_json",
            f"binary: json.loads(header, {n} B) + np.frombuffer",
            lambda: tensor_from_body(binary.body, str(n), json.loads),
        ),
        (
            "binary",
            "binary: orjson.loads(header) + np.frombuffer",
            lambda: tensor_from_body(binary.body, str(n), orjson.loads),
        ),
        ("dumps", "response: json.dumps", lambda: json.dumps(response).encode()),
        ("odumps", "response: orjson.dumps", lambda: orjson.dumps(response)),
        ("model", "the benchmark's model: x.sum", lambda: model(x)),
        ("mlp", "for scale: MLP 784→128→10 FP32 (numpy)", mlp),
    ]
    return [(key, label, time_call(fn, repeats)) for key, label, fn in cases]


# ---------------------------------------------------------------------------------- reporting


def versions() -> str:
    from importlib.metadata import version

    names = ["uvicorn", "starlette", "fastapi", "pydantic", "httptools", "uvloop", "orjson"]
    return ", ".join(f"{name} {version(name)}" for name in [*names, "httpx", "numpy"])


def _spread(values: list[float], scale: float = 1.0) -> str:
    low, mid, high = (v / scale for v in (min(values), statistics.median(values), max(values)))
    return f"{mid:.0f} ({low:.0f}–{high:.0f})"


def _change(ratios: list[float]) -> str:
    return f"{statistics.median(ratios) - 1:+.1%} [{min(ratios) - 1:+.1%}, {max(ratios) - 1:+.1%}]"


def conclusion(res: dict[tuple[str, str], Results], dec: dict[str, float]) -> str:
    """Three lines, every claim in them computed from this run's numbers."""
    cpu = {key: r.cpu_us for (key, name), r in res.items() if name == "json"}
    cpu_bin = {key: r.cpu_us for (key, name), r in res.items() if name == "binary"}
    savings = {
        "orjson for json (b → b+)": cpu["b"] - cpu["b+"],
        "httptools + uvloop for h11 + asyncio (a → b)": cpu["a"] - cpu["b"],
        "Starlette for a FastAPI Request route (c+ → b+)": cpu["c+"] - cpu["b+"],
    }
    biggest = max(savings, key=savings.__getitem__)

    def p50(key: str, base: str, name: str = "json") -> str:
        return f"{statistics.median(res[key, name].p50_vs(res[base, name])) - 1:+.0%}"

    binary_vs_json = statistics.median(res["b+", "binary"].p50_vs(res["b+", "json"])) - 1

    return (
        "- **Chosen: b+** (Starlette · httptools + uvloop · orjson, what `zenopt serve` runs). "
        "Server CPU per JSON request: "
        + ", ".join(f"{key} {us:.0f}" for key, us in cpu.items())
        + f" µs; the largest single saving is {biggest}, {savings[biggest]:.0f} µs.\n"
        f"- orjson: the JSON body decoded to an array in {dec['orjson+np']:.0f} µs vs "
        f"{dec['json+np']:.0f} µs with json.loads ({dec['json+np'] / dec['orjson+np']:.1f}×), "
        f"p50 b+ vs b {p50('b+', 'b')}. httptools + uvloop vs h11 + asyncio: server CPU "
        f"{cpu['b']:.0f} vs {cpu['a']:.0f} µs per JSON request, {cpu_bin['b']:.0f} vs "
        f"{cpu_bin['a']:.0f} per binary one. Starlette vs FastAPI by CPU: b+ {cpu['b+']:.0f} vs "
        f"c+ {cpu['c+']:.0f} µs; d's pydantic body model {cpu['d']:.0f} µs.\n"
        f"- Binary payload: parsing it (orjson header + np.frombuffer) takes {dec['binary']:.1f} "
        f"µs in process (the model {dec['model']:.1f} µs); end to end on b+ its p50 is "
        f"{binary_vs_json:+.0%} vs the JSON body's."
    )


def section(
    res: dict[tuple[str, str], Results],
    servers: list[Server],
    decode: Decoded,
    args: argparse.Namespace,
) -> str:
    from zenopt.profile.machine import fingerprint  # imports torch: only after the measuring

    env, cores = fingerprint(), os.cpu_count()
    flags = " ".join(f for f, on in env["cpu_flags"].items() if on and f in FLAGS)
    loops: dict[str, list[str]] = {}
    for server in servers:
        loops.setdefault(server.loop_name, []).append(server.stack.key)
    client = statistics.median(b for r in res.values() for b in r.client_busy)
    bound = "bound by the client" if client >= 0.8 else "not clearly bound by the client"
    lines = [
        "## HTTP stack for `zenopt serve` — one OIP infer request, 1×1×28×28 FP32 "
        "(`bench_serve_stack.py`)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {env['cpu_model']} ({cores} CPUs, "
        f"flags: {flags or 'none of avx2/avx512f/avx512_vnni'}), Python "
        f"{platform.python_version()}, {versions()}. Each stack is its own uvicorn process on "
        "127.0.0.1 (loops as reported: "
        + "; ".join(f"{', '.join(keys)}: {loop}" for loop, keys in loops.items())
        + "); the client is one httpx process on the same machine. "
        f"{args.rounds} rounds, the variants' order rotated each round; per variant and round "
        f"{args.warmup} warm-up + {args.requests} timed sequential requests (concurrency 1, "
        f"keep-alive), then {args.threads} threads × {args.per_thread} requests (concurrency "
        f"{args.threads}). p50: median over rounds of the round's median (min–max over rounds); "
        "vs a: per-round p50 ratio to stack a on the same payload, median [min, max]; server CPU: "
        "psutil over every timed request of all rounds.",
        "",
        "| Stack | Payload | p50 µs (min–max) | p50 vs a | p99 µs | Server CPU µs/req | "
        f"req/s @{args.threads} (min–max) | CPU busy @{args.threads} client / server |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    labels = {s.stack.key: s.stack.label for s in servers}
    for name in PAYLOADS:
        for key, label in labels.items():
            if (key, name) not in res:
                lines.append(f"| {key}: {label} | {name} | n/a (needs a JSON body) ||||||")
                continue
            r = res[key, name]
            vs = "—" if key == "a" else _change(r.p50_vs(res["a", name]))
            lines.append(
                f"| {key}: {label} | {name} | {_spread(r.p50_ns, 1e3)} | {vs} | "
                f"{statistics.median(r.p99_ns) / 1e3:.0f} | {r.cpu_us:.0f} | {_spread(r.rps)} | "
                f"{statistics.median(r.client_busy):.0%} / {statistics.median(r.server_busy):.0%} |"
            )
    lines += [
        "",
        f"req/s @{args.threads} is {bound}: one Python process (the GIL keeps it near one core; "
        f"median {client:.0%} busy) sharing the {cores} CPUs with the server, so it understates "
        "what a server can do and does not rank the stacks (their cost is the server CPU "
        "column). CPU busy: CPU seconds per wall second in that test, 100% = one core.",
        "",
        f"In process, no HTTP, one request's steps (`timeit`, {args.repeats} repeats of ~20 ms):",
        "",
        "| Operation (784 FP32 values) | µs/call median | min–max |",
        "|---|--:|--:|",
        *(f"| {label} | {m:.1f} | {lo:.1f}–{hi:.1f} |" for _, label, (m, lo, hi) in decode),
        "",
        conclusion(res, {key: stats[0] for key, _, stats in decode}),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300, help="timed sequential requests")
    parser.add_argument("--threads", type=int, default=8, help="concurrency of the rps test")
    parser.add_argument("--per-thread", type=int, default=100, help="requests per thread")
    parser.add_argument("--repeats", type=int, default=30, help="timeit repeats in process")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return

    t0 = time.perf_counter()
    x = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    data = payloads(x)
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs; {versions()}")
    print(
        f"JSON body {len(data['json'].body)} B, binary body {len(data['binary'].body)} B; "
        "measuring decoding in process …",
        flush=True,
    )
    decode = decoding(data, args.repeats)
    servers = start_servers(os.path.abspath(__file__))
    try:
        for server in servers:
            print(f"  server {server.stack.key} on :{server.port}, loop {server.loop_name}")
        check_answers(servers, data, float(model(x)[0]))
        results = measure(servers, data, args)
    finally:
        stop_servers(servers)
    text = section(results, servers, decode, args)
    write_section("serve_stack", text)
    print(f"\n{text}\n\nTotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
