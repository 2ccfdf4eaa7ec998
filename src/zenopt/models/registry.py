"""Registry of model factories, by name, plus ``package.module:factory`` references."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from zenopt.core.errors import ModelError, ZenoptError, first_line

__all__ = [
    "ModelFactory",
    "build_model",
    "factory_folder",
    "model_names",
    "pythonpath_prefix",
    "register_model",
    "resolve_model_name",
]

ModelFactory = Callable[..., nn.Module]

_FACTORIES: dict[str, ModelFactory] = {}
_NEEDS_IMAGES: set[str] = set()
_UNLISTED: set[str] = set()
_UNPROBED: set[str] = set()


def register_model(
    name: str, *, needs_images: bool = False, listed: bool = True, probed: bool = True
) -> Callable[[ModelFactory], ModelFactory]:
    """Register ``factory(input_shape, num_outputs, **params)`` under ``name``; an unlisted
    one rebuilds what a run recorded (``onnx``) and is not offered to users by name. A new
    module is run on zeros to check its output, unless ``probed`` is False (one that cannot
    compute before its weights are loaded: ``onnx_file``, whose graph is its weights)."""

    def decorate(factory: ModelFactory) -> ModelFactory:
        _FACTORIES[name] = factory
        if needs_images:
            _NEEDS_IMAGES.add(name)
        if not listed:
            _UNLISTED.add(name)
        if not probed:
            _UNPROBED.add(name)
        return factory

    return decorate


def model_names() -> list[str]:
    return sorted(set(_FACTORIES) - _UNLISTED)


def resolve_model_name(name: str, data_kind: str) -> str:
    """``auto`` picks ``mnist_cnn`` for images and ``mlp`` for tables."""
    if name == "auto":
        return "mnist_cnn" if data_kind == "image" else "mlp"
    return name


def _top_level(module_name: str) -> str:
    return module_name.partition(".")[0]


def factory_folder(name: str) -> str | None:
    """For a ``package.module:factory`` reference, the absolute folder its top-level package
    or module was imported from (the ``sys.path`` entry that held it), so that later commands
    can import it from any working directory. ``None`` for zoo models, for installed packages
    (site-packages: importable wherever this environment is) and for what has no file."""
    if name in _FACTORIES or ":" not in name:
        return None
    top = _top_level(name.partition(":")[0])
    module = sys.modules.get(top)
    if module is None:
        spec = importlib.util.find_spec(top)
        locations = list(spec.submodule_search_locations or []) if spec else []
        origin = spec.origin if spec else None
    else:
        locations = list(getattr(module, "__path__", []))
        origin = getattr(module, "__file__", None)
    if locations:  # a package (regular or namespace): the folder above its own
        folder = Path(locations[0]).resolve().parent
    elif origin and Path(origin).is_file():
        folder = Path(origin).resolve().parent
    else:
        return None
    return None if folder.name in {"site-packages", "dist-packages"} else str(folder)


def pythonpath_prefix(folder: str | None) -> str:
    """``PYTHONPATH=<folder> `` before a command that imports a user's model, else nothing."""
    return f"PYTHONPATH={shlex.quote(folder)} " if folder else ""


def _missing_itself(exc: ModuleNotFoundError, module_name: str) -> bool:
    """The module (or a package above it) is not found — not one its own code imports."""
    return exc.name is not None and (module_name + ".").startswith(exc.name + ".")


def _import_from(ref: str, module_name: str, folder: str | None) -> ModuleType:
    """Import ``module_name`` from ``sys.path``; when it is not there, from ``folder``, where
    the run imported it (appended, so that nothing importable otherwise is shadowed)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if folder is None or not _missing_itself(exc, module_name):
            raise
    top = _top_level(module_name)
    where = f"set PYTHONPATH=<the folder that now holds {top}.py or {top}/> and run again"
    if not Path(folder).is_dir():
        raise ModelError(
            f"model.name={ref!r}: the run imported {top!r} from {folder}, which no longer "
            f"exists; {where}"
        )
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _missing_itself(exc, module_name):
            raise
        raise ModelError(
            f"model.name={ref!r}: {top!r} is no longer in {folder}, where the run imported it "
            f"from; {where}"
        ) from None


def _import_factory(ref: str, folder: str | None = None) -> ModelFactory:
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ModelError(
            f"model.name={ref!r}: not a zoo model ({', '.join(model_names())}), "
            "a 'package.module:factory' reference nor 'onnx:PATH' (a trained ONNX model)"
        )
    try:
        module = _import_from(ref, module_name, folder)
    except ZenoptError:
        raise
    except ImportError as exc:
        raise ModelError(
            f"model.name={ref!r}: cannot import module {module_name!r} ({exc}); "
            "make it importable (install it or add its folder to PYTHONPATH)"
        ) from None
    except Exception as exc:  # the user's module failed while importing
        raise ModelError(
            f"model.name={ref!r}: importing {module_name!r} failed with "
            f"{type(exc).__name__}: {exc}; fix that module (--debug shows where)"
        ) from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelError(f"model.name={ref!r}: module {module_name!r} has no callable {attr!r}")
    return factory  # type: ignore[no-any-return]


def _check_params(
    name: str,
    factory: ModelFactory,
    input_shape: tuple[int, ...],
    num_outputs: int,
    params: dict[str, Any],
) -> None:
    """Reject unknown ``model.params`` keys, listing the ones the factory takes."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # no introspectable signature; let the call decide
    try:
        signature.bind(input_shape, num_outputs, **params)
    except TypeError as exc:
        allowed = [p for p in list(signature.parameters)[2:] if p not in {"args", "kwargs"}]
        raise ModelError(
            f"model {name!r}: bad model.params {params!r} ({exc}); "
            f"allowed: {', '.join(allowed) or 'none'}"
        ) from None


def build_model(
    name: str,
    input_shape: tuple[int, ...],
    num_outputs: int,
    params: dict[str, Any],
    folder: str | None = None,
) -> nn.Module:
    """Build a model and check that it maps a batch of inputs to ``(batch, num_outputs)``.

    ``folder``: where a run imported a ``package.module:factory`` from (its
    :func:`factory_folder`); used when the module is not importable otherwise."""
    if name in _FACTORIES:
        factory = _FACTORIES[name]
        if name in _NEEDS_IMAGES and len(input_shape) != 3:
            raise ModelError(
                f"model {name!r} needs image input (channels, height, width); this data has "
                f"{input_shape[0] if input_shape else 0} features per sample; use --model mlp"
            )
    else:
        factory = _import_factory(name, folder)
    _check_params(name, factory, input_shape, num_outputs, params)
    try:
        model = factory(input_shape, num_outputs, **params)
    except Exception as exc:  # any failure of the factory is the model's, not zenopt's
        raise ModelError(
            f"model {name!r} with params {params!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(model, nn.Module):
        keras = type(model).__module__.partition(".")[0] in {"keras", "tensorflow", "tf_keras"}
        hint = f" (a Keras model: write model.name=keras:{name})" if keras else ""
        raise ModelError(
            f"model {name!r}: the factory returned {type(model).__name__}, not nn.Module{hint}"
        )
    model.eval()
    if name in _UNPROBED:
        return model
    try:
        with torch.no_grad():
            out = model(torch.zeros((2, *input_shape)))
    except Exception as exc:
        first = first_line(exc)
        raise ModelError(f"model {name!r} fails on input shape {input_shape}: {first}") from exc
    if tuple(out.shape) != (2, num_outputs):
        raise ModelError(
            f"model {name!r}: output shape {tuple(out.shape)[1:]} per sample, expected "
            f"({num_outputs},); make the factory honour num_outputs"
        )
    return model
