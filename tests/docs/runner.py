"""Runs a docs page's examples in order, in a fresh folder, as a reader would type them.

``zenopt`` commands run in this process (through Typer's runner: torch is imported once) with
the tiny budget below appended to ``run`` and ``tune`` (so a documented 20-epoch job takes
seconds: fewer epochs, trials and timed calls, smaller images, the two loops only where the
example is about them). A
``zenopt serve`` without ``--export`` starts a real server process, which later ``curl``
commands of the page talk to, and which is stopped (SIGTERM) before the next one or at the end.
Python scripts run as processes; ``make TARGET`` and ``pip install 'zenopt[EXTRA]'`` are
checked against the Makefile and pyproject.toml (``make test`` runs these very tests).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import yaml
from tests.docs.blocks import Block, blocks, commands, console
from tests.docs.served import Served

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


def tiny_budget(args: list[str], folder: Path) -> list[str]:
    """The tiny budget for one ``zenopt run|tune``. The two loops stay off unless the example
    is about them (``zenopt tune``, a ``tune_*`` config): their own tests run them
    (``tests/integration/test_quality_loop.py``, ``test_efficiency_search.py``). A model
    trained elsewhere (``onnx:``, ``keras:``) keeps its epochs (0: evaluated as it is) and its
    input side."""
    loops = args[0] == "tune" or any("/tune_" in word for word in args)
    budget = [*TINY, *([] if loops else ["tune.when=never", "compress.search.when=never"])]
    if any(word.startswith(("onnx:", "keras:")) for word in args):
        return budget
    digits = "digits" in _data_source(args, folder)
    return [*budget, "train.epochs=2", *([SMALLER_IMAGES] if digits else [])]


def _data_source(args: list[str], folder: Path) -> str:
    """The data source a ``zenopt run|tune`` reads: ``--dataset``, a ``--set data.source=``, or
    its config file's (read from the page's folder)."""
    source = ""
    if "--config" in args:
        config = yaml.safe_load((folder / args[args.index("--config") + 1]).read_text()) or {}
        source = str((config.get("data") or {}).get("source", "digits"))
    for i, word in enumerate(args[:-1]):
        if word == "--dataset" or (word == "--set" and args[i + 1].startswith("data.source=")):
            source = args[i + 1].removeprefix("data.source=")
    return source or "digits"  # the default data set


# A `zenopt run|tune … --out DIR` that an earlier page ran exactly so: where its folder is (the
# next page gets a copy instead of training again).
_DONE: dict[str, Path] = {}
_CACHE = Path(tempfile.mkdtemp(prefix="zenopt-docs-runs-"))
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def _forget_modules_in(folder: Path) -> None:
    """Modules a page's own files made (``my_models``): the next page may have its own."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and Path(file).is_relative_to(folder):
            del sys.modules[name]


def _out(args: list[str]) -> str | None:
    for flag in ("--out", "-o"):
        if flag in args:
            return args[args.index(flag) + 1]
    return None


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
        self.server: Served | None = None
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
        said = f"{block.where}: {shlex.join(argv)}\n{done.stderr[-3000:]}"
        assert done.returncode in codes and "Traceback" not in done.stderr, said
        return done.stdout

    def command(self, line: str, block: Block, expect_error: bool = False) -> str:
        line = self._expand(line)
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
        # The tiny budget; an error example gets none: its error must come from the command.
        budget = program == "zenopt" and words[1:2] in (["run"], ["tune"]) and not expect_error
        if budget and "--resume" not in words:
            words += [a for item in tiny_budget(words[1:], self.folder) for a in ("--set", item)]
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
            assert self.server is not None, f"{block.where}: curl, but no zenopt serve before it"
            return self._process(shlex.split(self.server.point(line)), block, env)
        raise AssertionError(f"{block.where}: cannot run {line!r}; run it here or mark the block")

    def _expand(self, line: str) -> str:
        """``$NAME`` and ``${NAME}`` from the page's exports, then the environment."""
        values = {**os.environ, **self.env}
        return re.sub(
            r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: values.get(m.group(1), m.group(0)), line
        )

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
        key = self._key(args, env)
        out = _out(args)
        if key in _DONE and out:
            shutil.copytree(_DONE[key], self.folder / out, dirs_exist_ok=True)
            return ""
        from typer.testing import CliRunner

        from zenopt.cli.app import app

        cwd, path = os.getcwd(), list(sys.path)
        os.chdir(self.folder)
        # PYTHONPATH=…, as the process would start with it (this one has started)
        sys.path[:0] = [str(self.folder / p) for p in env.get("PYTHONPATH", "").split(":") if p]
        try:
            result = CliRunner().invoke(app, args, env={**self.env, **env})
        finally:
            os.chdir(cwd)
            sys.path[:] = path
            _forget_modules_in(self.folder)
        output = result.output  # stdout and stderr, as a terminal shows them
        said = f"{block.where}: zenopt {shlex.join(args)}\n{output}"
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert not crashed, f"{said}\n{result.exception!r}"  # a traceback is exit 1 too
        assert result.exit_code in ((2,) if expect_error else (0, 1)), said
        if not expect_error:
            self._complete(args, block)
        if key and out:  # kept as it is now: later commands change it
            _DONE[key] = _CACHE / hashlib.sha256(key.encode()).hexdigest()[:16]
            shutil.copytree(self.folder / out, _DONE[key])
        return output

    def _complete(self, args: list[str], block: Block) -> None:
        """A run (exit 0 or 1: a requirement missed on a tiny budget) wrote a complete run."""
        out = _out(args)
        if args[0] in ("run", "tune") and out:
            manifest = json.loads((self.folder / out / "manifest.json").read_text())
            assert manifest["status"] == "complete", f"{block.where}: {out}: {manifest['status']}"

    def _key(self, args: list[str], env: dict[str, str]) -> str | None:
        """What makes a run the same as one another page ran: its command, its environment
        and any config file the page wrote (the examples are the same on every page)."""
        if args[0] not in ("run", "tune") or _out(args) is None:
            return None
        config = args[args.index("--config") + 1] if "--config" in args else None
        written = ""
        if config and not config.startswith("examples/"):
            written = (self.folder / config).read_text(encoding="utf-8")
        return json.dumps([args, sorted({**self.env, **env}.items()), written])

    def _serve(self, args: list[str], block: Block, env: dict[str, str]) -> str:
        """Started on a free port (the documented one may be taken); later ``curl`` commands
        of the page go to it."""
        self.stop()
        self.server = Served(args, self.folder, {**self.env, **env})
        try:
            return self.server.ready()
        except AssertionError as error:
            raise AssertionError(f"{block.where}: zenopt {shlex.join(args)}: {error}") from None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.server = None

    def __enter__(self) -> Page:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def run_page(page: Path, folder: Path) -> list[Block]:
    """Run the page's blocks in order in ``folder``; the blocks it ran."""
    ran = []
    with Page(folder) as workspace:
        for block in blocks(page):
            if block.runs_here:
                workspace.run_block(block)
                ran.append(block)
    return ran
