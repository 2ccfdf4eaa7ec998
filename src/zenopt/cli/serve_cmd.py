"""``zenopt serve RUN_DIR``: the run's deployed model behind the Open Inference Protocol (v2
REST), with dynamic batching, a bounded queue and Prometheus metrics; ``--export DIR`` writes
a Triton model repository and a KServe manifest instead."""

from __future__ import annotations

import dataclasses
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from zenopt.cli.errors import STATE, err_console, reported_errors

if TYPE_CHECKING:
    from zenopt.serve.model import ServedModel
    from zenopt.serve.settings import ServeSettings

__all__ = ["serve"]

# Measured (benchmarks/bench_serve_stack.py): httptools + uvloop answer a small request in
# less time than h11 + asyncio.
_HTTP, _LOOP = "httptools", "uvloop"


def _bind(settings: ServeSettings) -> socket.socket:
    """The listening socket, bound here so that ``--port 0`` gets a free port we can print
    and a taken port is one line, not a traceback from inside the server."""
    from zenopt.core.errors import ConfigError

    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"--host {settings.host} --port {settings.port}: cannot listen there "
            f"({exc.strerror or exc}); check --host, or pass another --port (0: any free one)"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _startup_line(served: ServedModel, settings: ServeSettings, port: int) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    batching = (
        f"batching up to {settings.max_batch} rows, waiting up to {settings.max_delay_us} µs"
        if served.unbatched_reason is None
        else f"unbatched ({served.unbatched_reason})"
    )
    threads = f"{served.threads} thread{'s' * (served.threads != 1)}"
    workers = f"{settings.workers} worker{'s' * (settings.workers != 1)}"
    line = (
        f"serving {served.name} ({served.label}, {served.runtime}, {threads}) at "
        f"http://{host}:{port}/v2/models/{served.name} · {batching} · queue {settings.queue} · "
        f"{workers}"
    )
    return line + "".join(f"\nnote: {note}" for note in _notes(served, settings))


def _notes(served: ServedModel, settings: ServeSettings) -> list[str]:
    """What the user should know before relying on the server."""
    from zenopt.profile.machine import usable_cores

    notes = []
    missed = (served.manifest.get("verdict") or {}).get("missed") or []
    if missed:  # served all the same: it is what the run handed back
        notes.append(f"the run missed its requirements ({', '.join(map(str, missed))})")
    cores = usable_cores() or 1
    busy = settings.workers * served.threads
    if busy > cores:
        notes.append(
            f"{settings.workers} worker(s) × {served.threads} thread(s) = {busy} on {cores} "
            "cores: they will wait for each other; lower --workers or --threads"
        )
    return notes


def _uvicorn_config(app: Any, settings: ServeSettings, **extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        http=_HTTP,
        loop=_LOOP,
        lifespan="on",
        log_level="warning",
        access_log=False,
        # in-flight requests finish first: at most the queue's timeout, and some slack
        timeout_graceful_shutdown=settings.timeout_ms // 1000 + 5,
        **extra,
    )


def _run(served: ServedModel, settings: ServeSettings, sock: socket.socket, startup: str) -> None:
    """Serve until SIGTERM or Ctrl-C; both stop taking connections, finish the requests in
    flight and return (exit 0)."""
    import os
    import tempfile

    import uvicorn

    from zenopt.serve.app import create_app
    from zenopt.serve.model import load_runtime
    from zenopt.serve.settings import SETTINGS_ENV

    # a model the runtime cannot load fails here, in one line, before the startup line
    runtime = load_runtime(served, settings.max_batch, settings.inline_us / 1e6, settings.spin)
    if runtime.inline_rows:  # measured at load: calls this short run on the server's thread
        inline = f" · calls of ≤ {runtime.inline_rows} rows inline · queue "
        startup = startup.replace(" · queue ", inline, 1)
    err_console.print(startup, soft_wrap=True, markup=False, highlight=False)
    if settings.workers == 1:
        server = uvicorn.Server(_uvicorn_config(create_app(served, settings, runtime), settings))
        # A signal before uvicorn listens for it, and the one it re-raises once it has shut
        # down, both land here: passed on to the server (which is stopping, or soon starts to)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, server.handle_exit)
        server.run(sockets=[sock])
        return
    runtime.close()  # each worker loads its own
    from uvicorn.supervisors import Multiprocess

    os.environ[SETTINGS_ENV] = settings.to_env()
    with tempfile.TemporaryDirectory(prefix="zenopt-metrics-") as metrics:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics  # workers add up their metrics here
        config = _uvicorn_config(
            "zenopt.serve.app:worker_app", settings, factory=True, workers=settings.workers
        )
        Multiprocess(config, sockets=[sock]).run()


_CHOSEN = "the serving config the run chose (requirements.serve_p99_ms)"
_DEFAULTS = {"workers": 1, "threads": None, "max_batch": 64, "max_delay_us": 0, "inline_us": 200}


def _knobs(manifest: dict[str, Any], given: dict[str, int | None]) -> dict[str, Any]:
    """Each serving knob: as given, else as the run's serve stage chose it, else the default."""
    chosen = (manifest.get("serve") or {}).get("chosen") or {}
    return {
        key: given[key] if given[key] is not None else chosen.get(key, default)
        for key, default in _DEFAULTS.items()
    }


def serve(
    run_dir: Path = typer.Argument(
        ...,
        help="A run folder (the --out of zenopt run): serves its deployed model. Or a "
        "candidate folder in it: RUN/compressed/NAME or RUN/search/trial-NNNNN.",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every one)."),
    port: int = typer.Option(8000, help="Port to listen on; 0 picks a free one."),
    workers: int | None = typer.Option(
        None,
        help="Server processes, each with its own copy of the model. Default: "
        + _CHOSEN
        + ", else 1.",
        show_default=False,
    ),
    threads: int | None = typer.Option(
        None,
        help="Runtime threads per worker. Default: " + _CHOSEN + ", else as the run "
        "deployed the model.",
        show_default=False,
    ),
    max_batch: int | None = typer.Option(
        None,
        help="Rows per runtime call, and per request. Default: " + _CHOSEN + ", else 64.",
        show_default=False,
    ),
    max_delay_us: int | None = typer.Option(
        None,
        help="How long the oldest waiting request waits for others to batch with (µs). "
        "Default: " + _CHOSEN + ", else 0.",
        show_default=False,
    ),
    queue: int = typer.Option(256, help="Requests that may wait; one more is answered 503."),
    timeout_ms: int = typer.Option(10_000, help="Longest wait in the queue before a 503 (ms)."),
    inline_us: int | None = typer.Option(
        None,
        help="Runtime calls the model answers within this (µs, timed at startup) run on the "
        "server's own thread while it is less than half busy, without the ~90 µs hand-over "
        "to the inference thread. Default: " + _CHOSEN + ", else 200; 0: never.",
        show_default=False,
    ),
    max_body_mb: float | None = typer.Option(
        None,
        help="Largest request body. Default: what --max-batch rows take as JSON.",
        show_default=False,
    ),
    spin: bool = typer.Option(
        False,
        "--spin/--no-spin",
        help="Let ONNX Runtime's threads spin between calls: a little less latency at low "
        "load, for a core kept busy (measured: benchmarks/RESULTS.md).",
    ),
    name: str | None = typer.Option(
        None, help="The model's name in URLs. Default: the run's model name.", show_default=False
    ),
    in_progress: bool = typer.Option(
        False, "--in-progress", hidden=True, help="A run being written: its own serve stage."
    ),
    export: Path | None = typer.Option(
        None,
        "--export",
        help="Write a Triton model repository and a KServe InferenceService "
        "for the model to this folder, and exit.",
        show_default=False,
    ),
) -> None:
    """Serve the model a run deployed over the Open Inference Protocol (v2 REST): dynamic
    batching, back-pressure (503 + Retry-After) and Prometheus metrics at /metrics."""
    with reported_errors():
        from zenopt.serve.model import load_served
        from zenopt.serve.settings import ServeSettings

        given = {"workers": workers, "threads": threads, "max_batch": max_batch,
                 "max_delay_us": max_delay_us, "inline_us": inline_us}  # fmt: skip
        served = load_served(run_dir, name, threads, not in_progress)
        knobs = _knobs(served.manifest, given)
        if knobs["threads"] is not None:  # the run's chosen threads, not given here
            served = dataclasses.replace(served, threads=knobs["threads"])
        settings = ServeSettings(
            str(run_dir), name, host, port, knobs["workers"], knobs["threads"],
            knobs["max_batch"], knobs["max_delay_us"], queue, timeout_ms, max_body_mb,
            STATE["debug"], in_progress, knobs["inline_us"], spin,
        )  # fmt: skip
        if export is not None:
            from zenopt.serve.export import export_deployment

            for path in export_deployment(served, settings, export):
                err_console.print(f"wrote {path}", soft_wrap=True, markup=False)
            return
        sock = _bind(settings)
        try:
            _run(served, settings, sock, _startup_line(served, settings, sock.getsockname()[1]))
        finally:
            sock.close()
        err_console.print(f"stopped serving {served.name}", soft_wrap=True, markup=False)
