"""``zenopt serve``'s settings: one frozen record, passed to worker processes as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from zenopt.core.errors import ConfigError

__all__ = ["SETTINGS_ENV", "ServeSettings"]

SETTINGS_ENV = "ZENOPT_SERVE_SETTINGS"  # how ``--workers`` processes get the settings


@dataclass(frozen=True)
class ServeSettings:
    run_dir: str
    name: str | None = None  # the model's name in URLs; default: the run's model name
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    threads: int | None = None  # the runtime's threads; default: as the run deployed it
    max_batch: int = 64  # rows per runtime call, and per request
    max_delay_us: int = 0  # how long the oldest request waits for others to join its batch
    queue: int = 256  # requests waiting for the model; one more is answered 503
    timeout_ms: int = 10_000  # the longest a request waits in the queue
    max_body_mb: float | None = None  # default: what max_batch rows take as JSON
    debug: bool = False  # log a request's server-side failure with its traceback
    in_progress: bool = False  # a run still being written (its own serve stage)
    inline_us: int = 200  # runtime calls expected to be this short run on the loop's thread
    spin: bool = False  # ONNX Runtime's threads spin between calls (a core kept busy)

    def __post_init__(self) -> None:
        positive = {
            "--workers": self.workers,
            "--max-batch": self.max_batch,
            "--queue": self.queue,
            "--timeout-ms": self.timeout_ms,
        }
        for option, value in positive.items():
            if value < 1:
                raise ConfigError(f"{option} {value}: must be at least 1")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads {self.threads}: must be at least 1 (or leave it out)")
        if self.inline_us < 0:
            raise ConfigError(f"--inline-us {self.inline_us}: must be 0 (never) or more")
        if self.max_delay_us < 0:
            raise ConfigError(f"--max-delay-us {self.max_delay_us}: must be 0 or more")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port}: must be 0–65535 (0: a free port)")
        if self.max_body_mb is not None and not 0 < self.max_body_mb < 2**20:
            raise ConfigError(f"--max-body-mb {self.max_body_mb}: must be a size in MiB above 0")

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        return cls(**json.loads(os.environ[SETTINGS_ENV]))
