"""Named ranges for Intel VTune (ITT) and NVIDIA Nsight Systems (NVTX) around zenopt's work.

``trace: itt`` or ``trace: nvtx`` (``--trace``) puts a range around every flow stage, tuning
and search trial, compression step and timed block of inference calls; they nest as the flow
runs, per thread. With ``off`` (the default) every range is a no-op.

- ITT goes through PyTorch's own ITT binding (``torch.profiler.itt``): its ranges are ITT
  tasks of PyTorch's ``PyTorch`` domain, which VTune shows on each thread's timeline.
- NVTX goes through the ``nvtx`` package, in the ``zenopt`` domain, as Nsight Systems shows it.

Both APIs reach a tool only through a collector the tool names in the environment before the
process starts (``INTEL_LIBITTNOTIFY64`` for ITT, ``NVTX_INJECTION64_PATH`` for NVTX): VTune
and ``nsys`` set it for the program they launch. Without one, a range costs one Python call
and nothing else; ``configure_trace`` says so in one line, since the ranges then go nowhere.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from zenopt.core.errors import ConfigError

__all__ = [
    "TRACE_KINDS",
    "TraceKind",
    "active_trace",
    "collector_note",
    "configure_trace",
    "span",
]

TraceKind = Literal["off", "itt", "nvtx"]
TRACE_KINDS: tuple[str, ...] = ("off", "itt", "nvtx")
DOMAIN = "zenopt"  # the NVTX domain (ITT ranges are in PyTorch's domain)
COLOR = 0xFF76B900  # ARGB: how NVTX ranges are drawn
COLLECTOR_ENV = {"itt": "INTEL_LIBITTNOTIFY64", "nvtx": "NVTX_INJECTION64_PATH"}


class _Off:
    kind = "off"

    def push(self, name: str) -> None:
        pass

    def pop(self) -> None:
        pass


class _Itt:
    kind = "itt"

    def __init__(self) -> None:
        import torch.profiler.itt as itt

        if not itt.is_available():  # type: ignore[no-untyped-call]
            raise ConfigError(
                "trace: itt: this PyTorch build has no ITT API (x86-64 builds have it); use "
                "trace: nvtx, or trace: off"
            )
        self.push = itt.range_push  # type: ignore[method-assign]
        self.pop = itt.range_pop  # type: ignore[method-assign]

    def push(self, name: str) -> None: ...  # replaced by the binding in __init__

    def pop(self) -> None: ...


class _Nvtx:
    kind = "nvtx"

    def __init__(self) -> None:
        try:
            import nvtx
        except ImportError:
            raise ConfigError(
                "trace: nvtx needs the nvtx package: pip install 'nvtx==0.2.17'"
            ) from None
        self.domain: Any = nvtx.get_domain(DOMAIN)  # a no-op stand-in without a collector
        self._attributes: dict[str, Any] = {}  # registered once per name

    def push(self, name: str) -> None:
        attributes = self._attributes.get(name)
        if attributes is None:
            attributes = self.domain.get_event_attributes(name, COLOR)
            self._attributes[name] = attributes
        self.domain.push_range(attributes)

    def pop(self) -> None:
        self.domain.pop_range()


_active: _Off | _Itt | _Nvtx = _Off()


def _collector_set(kind: str) -> bool:
    return bool(os.environ.get(COLLECTOR_ENV[kind]))


def configure_trace(kind: str) -> str | None:
    """Route every ``span`` to ``kind`` (off, itt or nvtx) from now on, process-wide. Returns a
    one-line note when no collector is attached (the ranges then go nowhere), else None."""
    global _active
    if kind not in TRACE_KINDS:
        raise ConfigError(f"trace: {kind!r} is unknown; choose from {', '.join(TRACE_KINDS)}")
    if kind != _active.kind:
        _active = _Itt() if kind == "itt" else _Nvtx() if kind == "nvtx" else _Off()
    return collector_note(kind)


def collector_note(kind: str) -> str | None:
    """One line when ranges of ``kind`` would go nowhere (no collector named), else None."""
    if kind == "off" or _collector_set(kind):
        return None
    tool = "vtune -collect hotspots --" if kind == "itt" else "nsys profile --trace=nvtx"
    return (
        f"trace: {kind}: no collector is attached ({COLLECTOR_ENV[kind]} is unset), so the "
        f"ranges go nowhere; start zenopt under the tool, e.g. {tool} zenopt run …"
    )


def active_trace() -> str:
    """The kind of trace ranges go to now: off, itt or nvtx."""
    return _active.kind


class span:  # noqa: N801 - used as ``with span("name"):`` like contextlib's helpers
    """A named range around a block: ``with span("train"): ...``. Cheap when tracing is off."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        _active.push(self.name)

    def __exit__(self, *exc: object) -> None:
        _active.pop()
