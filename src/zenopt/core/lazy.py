"""A package's public names imported from their modules on first use (PEP 562), so that
importing one small module of the package does not import the heavy ones beside it."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """The package's ``__getattr__``: ``where`` maps each name to its module in the package."""

    def attribute(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{where[name]}"), name)

    return attribute
