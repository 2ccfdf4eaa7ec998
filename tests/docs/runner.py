"""Runs a docs page's examples in order, in a fresh folder, as a reader would type them.

``zenopt`` commands run in this process (through Typer's runner: torch is imported once) with
the tiny budget below appended to ``run`` and ``tune`` (so a documented 20-epoch job takes
seconds: fewer epochs, trials and timed calls, smaller images; the flow is the same). A
``zenopt serve`` without ``--export`` starts a real server process, which later ``curl``
commands of the page talk to, and which is stopped (SIGTERM) before the next one or at the end.
Python scripts run as processes; ``make TARGET`` and ``pip install 'zenopt[EXTRA]'`` are
checked against the Makefile and pyproject.toml (``make test`` runs these very tests).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import yaml
from tests.docs.blocks import Block, commands, console

ROOT = Path(__file__).parents[2]
TINY = [
    "tune.trials=1",
    "tune.startup_trials=1",
    "compress.search.trials=1",
    "compress.search.prune_epochs=1",
    "compress.search.space.distill_epochs=[1]",
    "compress.search.rounds=3",
    "bench.warmup=2",
    "bench.repeats=10",
    "bench.throughput_repeats=3",
    "bench.confirm_rounds=2",
    "bench.threads=1",
    "bench.noise_wait_s=0",
    "bench.noise_retries=0",
    "analysis.operators=false",
    "analysis.scaling=false",
    "analysis.memory=false",
    "analysis.ceiling=false",
    "analysis.explain=false",
    "serve.budget_s=5",
    "serve.requests=100",
]
# The digit images at 12×12 instead of 28×28 (a fifth of the compute), unless the model fixes
# their side (onnx:, keras:); tables take no data.resize.
SMALLER_IMAGES = "data.resize=12"
SERVE_READY_S = 120.0


def tiny_budget(args: list[str]) -> list[str]:
    """The tiny budget for one ``zenopt run|tune``: a model trained elsewhere (``onnx:``,
    ``keras:``) keeps its epochs (0: evaluated as it is) and its input side."""
    if any(word.startswith(("onnx:", "keras:")) for word in args):
        return list(TINY)
    digits = any("digits" in word for word in args)
    return [*TINY, "train.epochs=2", *([SMALLER_IMAGES] if digits else [])]


# A `zenopt run|tune … --out DIR` that an earlier page ran exactly so: where its folder is (the
# next page gets a copy instead of training again).
_DONE: dict[str, Path] = {}


def excerpt_of(code: str, path: Path) -> bool:
    """Whether ``code``'s lines appear in the file, in order (blank lines and indentation
    aside): a block that shows part of an example file."""
    wanted = [line.strip() for line in code.splitlines() if line.strip()]
    lines = iter(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return all(any(line == want for line in lines) for want in wanted)


class Page:
    """One page's workspace: its folder, environment and the server it started."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env: dict[str, str] = {}
        self.server: subprocess.Popen[str] | None = None
        self.ran: set[str] = set()  # a page may show a command again: it runs once
        (folder / "examples").mkdir()
        for item in (ROOT / "examples").iterdir():  # the example files a page names
            if item.is_file():
                shutil.copy(item, folder / "examples")

    def run_block(self, block: Block) -> None:
        if block.kind == "yaml":
            self._config(block)
        elif block.kind == "python":
            self._python(block)
        elif block.kind == "bash":
            for command in commands(block.text):
                self.command(command, block)
        elif block.kind == "console":
            for command, expected in console(block.text):
                output = self.command(command, block, expect_error=True)
                for line in expected:
                    assert line.strip() in output, f"{block.where}: {line!r} not in\n{output}"

    def _config(self, block: Block) -> None:
        from zenopt.core.config import load_config

        if block.title and block.title.startswith("examples/"):
            assert excerpt_of(block.text, ROOT / block.title), f"{block.where}: not in the file"
            load_config(ROOT / block.title)
            return
        path = self.folder / (block.title or "docs-fragment.yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text + "\n", encoding="utf-8")
        assert isinstance(yaml.safe_load(block.text), dict), f"{block.where}: not a mapping"
        load_config(path)

    def _python(self, block: Block) -> None:
        if block.title and block.title.startswith("examples/"):
            assert excerpt_of(block.text, ROOT / block.title), f"{block.where}: not in the file"
            return
        if block.title:
            (self.folder / block.title).write_text(block.text + "\n", encoding="utf-8")
            return
        script = self.folder / "docs-example.py"
        script.write_text(block.text + "\n", encoding="utf-8")
        self._process([sys.executable, str(script)], block)

    def _process(
        self,
        argv: list[str],
        block: Block,
        env: dict[str, str] | None = None,
        codes: tuple[int, ...] = (0,),
    ) -> str:
        done = subprocess.run(
            argv,
            cwd=self.folder,
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode in codes, f"{block.where}: {shlex.join(argv)}\n{done.stderr[-3000:]}"
        return done.stdout

    def command(self, line: str, block: Block, expect_error: bool = False) -> str:
        line = os.path.expandvars(line) if "$" in line else line
        if line in self.ran and not expect_error:
            return ""
        self.ran.add(line)
        words = shlex.split(line)
        env = {}
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        program = words[0].removeprefix(".venv/bin/")
        if program == "export":
            key, _, value = words[1].partition("=")
            self.env[key] = value
            return ""
        if program == "zenopt" and words[1:2] in (["run"], ["tune"]) and "--resume" not in words:
            words += [a for item in tiny_budget(words) for a in ("--set", item)]
        if program == "zenopt" and "PYTHONPATH" in env:  # a path for the process it starts
            zenopt = [sys.executable, "-m", "zenopt", *words[1:]]
            return self._process(zenopt, block, env, codes=(0, 1))
        if program == "zenopt":
            return self._zenopt(words[1:], block, env, expect_error)
        if program == "python":
            return self._process([sys.executable, *words[1:]], block, env)
        if program == "make":
            makefile = (ROOT / "Makefile").read_text()
            for target in words[1:]:
                assert re.search(rf"^{re.escape(target)}:", makefile, re.M), block.where
            return ""
        if program == "pip":
            return self._pip(words, block)
        if program == "curl":
            return self._process(words, block, env)
        raise AssertionError(f"{block.where}: cannot run {line!r}; run it here or mark the block")

    def _pip(self, words: list[str], block: Block) -> str:
        extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
            "optional-dependencies"
        ]
        for word in words[2:]:
            match = re.fullmatch(r"zenopt\[(\w+)\]", word)
            assert match and match.group(1) in extras, f"{block.where}: no extra in {word!r}"
        return ""

    def _zenopt(
        self, args: list[str], block: Block, env: dict[str, str], expect_error: bool
    ) -> str:
        if args[0] == "serve" and "--export" not in args:
            return self._serve(args, block, env)
        out = args[args.index("--out") + 1] if "--out" in args else None
        key = shlex.join(args)
        if args[0] in ("run", "tune") and out and key in _DONE:
            shutil.copytree(_DONE[key], self.folder / out)
            return ""
        from typer.testing import CliRunner

        from zenopt.cli.app import app

        cwd = os.getcwd()
        os.chdir(self.folder)
        try:
            result = CliRunner().invoke(app, args, env={**self.env, **env})
        finally:
            os.chdir(cwd)
        output = result.output  # stdout and stderr, as a terminal shows them
        allowed = (2,) if expect_error else (0, 1)
        assert result.exit_code in allowed, f"{block.where}: zenopt {shlex.join(args)}\n{output}"
        if args[0] in ("run", "tune") and out:  # kept as it is now: later commands change it
            _DONE[key] = Path(tempfile.mkdtemp(prefix="zenopt-docs-run-")) / "run"
            shutil.copytree(self.folder / out, _DONE[key])
        return output

    def _serve(self, args: list[str], block: Block, env: dict[str, str]) -> str:
        self.stop()
        self.server = subprocess.Popen(
            [sys.executable, "-m", "zenopt", *args],
            cwd=self.folder,
            env={**os.environ, **self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + SERVE_READY_S
        assert self.server.stdout is not None
        seen = []
        while time.monotonic() < deadline:
            line = self.server.stdout.readline()
            seen.append(line)
            if line.startswith("serving "):
                return line
            if not line and self.server.poll() is not None:
                break
        raise AssertionError(f"{block.where}: zenopt {shlex.join(args)}: {''.join(seen)}")

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
