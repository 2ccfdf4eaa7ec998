"""The one error tree of zenopt.

Every error a user can cause is a :class:`ZenoptError`. Its message is a single line that
names the file, field or value at fault, what was expected, and what to do. The CLI prints
that line in red and exits with :attr:`ZenoptError.exit_code` (2); ``--debug`` shows the
traceback. Each subclass also inherits the matching built-in so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "ExportError",
    "ModelError",
    "ProfileError",
    "RuntimeBackendError",
    "SearchError",
    "TrainingError",
    "ZenoptError",
    "first_line",
]


class ZenoptError(Exception):
    """Base class of every error zenopt reports to a person."""

    exit_code: int = 2


class ConfigError(ZenoptError, ValueError):
    """A configuration file, key or value is wrong."""


class DataError(ZenoptError, ValueError):
    """The data cannot be read or does not fit the task."""


class ModelError(ZenoptError, ValueError):
    """A model name, factory or parameter is wrong, or the model does not fit the data."""


class TrainingError(ZenoptError, RuntimeError):
    """Training diverged or produced unusable weights (usually a learning rate too high)."""


class ExportError(ZenoptError, RuntimeError):
    """Export failed or the exported model does not reproduce the trained one."""


class RuntimeBackendError(ZenoptError, ValueError):
    """An inference backend is unknown or cannot load the model."""


class ProfileError(ZenoptError, RuntimeError):
    """A profiling tool (Valgrind) failed, or could not run a model to the end."""


class SearchError(ZenoptError, RuntimeError):
    """A search produced nothing to choose from: every one of its candidates failed."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (third-party errors span pages), or its
    type's name when it has none: what a one-line error quotes."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
