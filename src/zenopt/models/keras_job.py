"""zenopt's side of a Keras model it trains: which model names are Keras factories, the run's
``train`` section mapped onto Keras, and the child process (``keras_fit``) run with its epochs
streamed back. TensorFlow loads only in the child.

A ``package.module:factory`` is a Keras factory when its module imports ``keras`` or
``tensorflow`` (read from its source, without running it), or when it is written
``keras:package.module:factory``. The factory is called as a PyTorch one is,
``factory(input_shape, num_outputs, **model.params)``, and returns a ``keras.Model``; image
input is given channels last, ``(height, width, channels)``, as Keras's layers expect.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zenopt.core.config import RunConfig
from zenopt.core.errors import ConfigError, ModelError
from zenopt.models.keras_source import KERAS_PREFIX, cache_folder

__all__ = [
    "check_factory",
    "factory_ref",
    "fit_settings",
    "is_keras_factory",
    "keras_input_shape",
    "run_keras_job",
]

_REF = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_KERAS_MODULES = {"keras", "tensorflow", "tf_keras"}
PROTOCOL = "ZENOPT "


def is_keras_factory(name: str) -> bool:
    """``keras:package.module:factory``, or a ``package.module:factory`` whose module imports
    Keras or TensorFlow."""
    if name.startswith(KERAS_PREFIX):
        rest = name[len(KERAS_PREFIX) :]
        return bool(_REF.match(rest)) and not Path(rest).expanduser().exists()
    return bool(_REF.match(name)) and _imports_keras(name.partition(":")[0])


def factory_ref(name: str) -> str:
    return name[len(KERAS_PREFIX) :] if name.startswith(KERAS_PREFIX) else name


def _module_file(module_name: str) -> str | None:
    """The source file of ``module_name``, found on ``sys.path`` one name at a time without
    importing anything (``importlib.util.find_spec`` would run the packages above it)."""
    from importlib.machinery import PathFinder

    search: list[str] | None = None
    spec = None
    for part in module_name.split("."):
        spec = PathFinder.find_spec(part, search)
        if spec is None:
            return None
        search = list(spec.submodule_search_locations or [])
    return spec.origin if spec is not None else None


def _imports_keras(module_name: str) -> bool:
    """The module's source imports Keras or TensorFlow (read, not run)."""
    try:
        origin = _module_file(module_name)
        if not origin or not origin.endswith(".py"):
            return False
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    except Exception:  # an unreadable module: the PyTorch path gives its error
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n.partition(".")[0] in _KERAS_MODULES for n in names):
            return True
    return False


def check_factory(ref: str) -> None:
    """A ``package.module:factory`` whose module cannot be found, or whose source defines no
    such name, is refused here, in one line, without starting TensorFlow."""
    module_name, _, attr = ref.partition(":")
    try:
        origin = _module_file(module_name)
    except Exception:  # found on import only: the child's error says why
        return
    if origin is None:
        raise ModelError(
            f"model.name={ref!r}: cannot import module {module_name!r}; make it importable "
            "(install it or add its folder to PYTHONPATH)"
        )
    if not origin.endswith(".py"):
        return
    try:
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return  # the child's import gives the error
    names = _top_level_names(tree)
    if attr not in names:
        import difflib

        close = difflib.get_close_matches(attr, sorted(names), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ModelError(
            f"model.name={ref!r}: module {module_name!r} has no callable {attr!r}{hint}"
        )


def _top_level_names(tree: ast.Module) -> set[str]:
    """Every name a module binds at its top level; all of them when it cannot tell (a star
    import or a module ``__getattr__``)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return _EVERYTHING
            names.update((a.asname or a.name).partition(".")[0] for a in node.names)
        else:
            names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
    return _EVERYTHING if "__getattr__" in names else names


class _Everything(set[str]):
    def __contains__(self, item: object) -> bool:
        return True


_EVERYTHING = _Everything()


def keras_input_shape(net_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape a Keras factory is asked for: images channels last."""
    if len(net_shape) == 3:
        channels, height, width = net_shape
        return (height, width, channels)
    return net_shape


def fit_settings(config: RunConfig) -> dict[str, Any]:
    """The ``train`` section as Keras ``fit`` settings. Everything maps (the README's table
    says how); zenopt's batch augmentation does not, since it runs in PyTorch's loop."""
    if config.data.augment:
        raise ConfigError(
            f"data.augment={config.data.augment}: {config.model.name} trains in Keras, and "
            "zenopt's augmentation runs in its PyTorch loop; add Keras layers to the model "
            "(keras.layers.RandomTranslation, RandomRotation, GaussianNoise) or leave "
            "data.augment out"
        )
    train = config.train
    keys = ("optimizer", "lr", "batch_size", "epochs", "momentum", "nesterov", "weight_decay")
    settings: dict[str, Any] = {key: getattr(train, key) for key in keys}
    settings.update(
        l1=train.l1,
        l2=train.l2,
        schedule=train.schedule,
        patience=train.patience,
        min_delta=train.min_delta,
        plateau_patience=max(1, (train.patience or 4) // 2),
        seed=config.seed,
    )
    return settings


def _last_line(path: Path, code: int) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else f"the Keras process ended with exit code {code}"


def _stream(
    process: subprocess.Popen[str], on_epoch: Callable[[dict[str, Any]], None] | None
) -> dict[str, Any]:
    """The child's protocol lines, as they come; epochs go to ``on_epoch``."""
    done: dict[str, Any] = {}
    assert process.stdout is not None
    for line in process.stdout:
        if not line.startswith(PROTOCOL):
            continue  # TensorFlow's and the user's own prints
        try:
            fields = json.loads(line[len(PROTOCOL) :])
        except ValueError:
            continue  # a print of the user's that starts like ours
        if not isinstance(fields, dict):
            continue
        if "epoch" in fields:
            if on_epoch is not None:
                on_epoch(fields)
        else:
            done.update(fields)
    return done


def _command(job_file: Path) -> list[str]:
    return [sys.executable, "-m", "zenopt.keras_child.fit", str(job_file)]


def _death_signal() -> Callable[[], None] | None:
    """On Linux, a function for the forked child that has the kernel kill it when zenopt
    dies (no orphan training on). libc is loaded here, in the parent: the child only calls."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def run_keras_job(
    job: dict[str, Any], on_epoch: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Run ``job`` in a ``keras_child.fit`` child: its summary, with ``onnx`` (and, when it
    trained, ``keras``) the paths of the results in zenopt's cache, named by their digest.
    ``job`` needs ``out`` (an empty folder) and is written there; the child is stopped when
    ``on_epoch`` raises (a pruned trial, Ctrl-C), and dies with zenopt."""
    out = Path(job["out"])
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    preexec = _death_signal()
    with (
        open(out / "stderr.txt", "w", encoding="utf-8") as stderr,
        subprocess.Popen(
            _command(out / "job.json"),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
            preexec_fn=preexec,
        ) as process,  # fmt: skip
    ):
        try:
            done = _stream(process, on_epoch)
            code = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if code < 0:
        raise ModelError(
            f"{job['name']}: the Keras process was killed by signal {-code} (out of memory? "
            "try a smaller train.batch_size)"
        )
    if code != 0 or not done.get("done"):
        raise ModelError(_last_line(out / "stderr.txt", code))
    return {**done, **_keep(out, "keras-probe" if job.get("probe") else "keras-trained")}


def _keep(out: Path, kind: str) -> dict[str, str]:
    """The results copied into zenopt's cache, ``<kind>/<sha256 of the ONNX file>``."""
    digest = hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest()
    folder = cache_folder() / kind
    folder.mkdir(parents=True, exist_ok=True)
    kept = {}
    for name, suffix in (("onnx", ".onnx"), ("keras", ".keras")):
        source = out / f"model{suffix}"
        if source.is_file():
            target = folder / f"{digest}{suffix}"
            if not target.is_file():
                partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
                shutil.copyfile(source, partial)  # trials in threads may keep the same model
                partial.replace(target)
            kept[name] = str(target)
    return kept


def job_folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="zenopt-keras-")
