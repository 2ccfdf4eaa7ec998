"""Trace ranges: the choice of API, the note when no collector listens, and how ``span``
pushes and pops (the ranges a real collector sees: tests/integration/test_trace_collector.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from zenopt.core.config import load_config
from zenopt.core.errors import ConfigError
from zenopt.profile import trace
from zenopt.profile.trace import active_trace, collector_note, configure_trace, span


@pytest.fixture(autouse=True)
def _off_after() -> Iterator[None]:
    yield
    configure_trace("off")


class _Recorder:
    kind = "recorder"

    def __init__(self) -> None:
        self.events: list[str] = []

    def push(self, name: str) -> None:
        self.events.append(f"+{name}")

    def pop(self) -> None:
        self.events.append("-")


def test_spans_push_and_pop_in_nesting_order_also_on_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = _Recorder()
    monkeypatch.setattr(trace, "_active", recorder)
    with span("run"):
        with span("train"):
            pass
        with pytest.raises(ValueError), span("search trial 0: prune(ratio=0.5)"):
            raise ValueError("a failed trial still closes its range")
    assert recorder.events == ["+run", "+train", "-", "+search trial 0: prune(ratio=0.5)", "-", "-"]


@pytest.mark.parametrize("kind", ["itt", "nvtx", "off"])
def test_each_kind_routes_the_ranges(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTEL_LIBITTNOTIFY64", raising=False)
    monkeypatch.delenv("NVTX_INJECTION64_PATH", raising=False)
    configure_trace(kind)
    assert active_trace() == kind
    if kind == "itt":  # PyTorch's own binding
        import torch.profiler.itt as itt

        assert trace._active.push == itt.range_push and trace._active.pop == itt.range_pop
    if kind == "nvtx":  # no tool named: nvtx hands out its no-op domain
        import nvtx

        assert trace._active.domain is nvtx._lib.dummy_domain  # type: ignore[union-attr]
    with span("a"), span("b"):  # no collector: the APIs accept the ranges and drop them
        pass


def test_unknown_kind_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"trace: 'vtune' is unknown; choose from off, itt, nvtx"):
        configure_trace("vtune")
    with pytest.raises(ConfigError, match="trace"):
        load_config(None, ["trace=vtune"])
    # YAML 1.1 reads a bare ``off`` as false: it still means off
    assert load_config(None, ["trace=off"]).trace == "off"
    assert load_config(None, ["trace=nvtx"]).trace == "nvtx"


def test_trace_flag_is_checked_and_kept_on_resume(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from zenopt.cli.app import app

    result = CliRunner().invoke(app, ["run", "--trace", "vtune"])
    assert result.exit_code == 2 and "--trace 'vtune': choose from off, itt, nvtx" in result.output
    # --resume refuses anything that changes the run, but not --trace: here the folder's run
    # is complete, which is the next thing checked
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "complete"}))
    result = CliRunner().invoke(app, ["run", "--resume", str(tmp_path), "--trace", "itt"])
    assert result.exit_code == 2 and "the run is already complete" in result.output
    result = CliRunner().invoke(app, ["run", "--resume", str(tmp_path), "--seed", "1"])
    assert result.exit_code == 2 and "drop --config, --set" in result.output


def test_the_note_says_how_to_attach_a_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTEL_LIBITTNOTIFY64", raising=False)
    monkeypatch.delenv("NVTX_INJECTION64_PATH", raising=False)
    itt = collector_note("itt")
    assert itt is not None and "INTEL_LIBITTNOTIFY64 is unset" in itt and "vtune" in itt
    nvtx = collector_note("nvtx")
    assert nvtx is not None and "NVTX_INJECTION64_PATH" in nvtx and "nsys profile" in nvtx
    assert collector_note("off") is None
    monkeypatch.setenv("INTEL_LIBITTNOTIFY64", "/opt/intel/vtune/libittnotify_collector.so")
    assert collector_note("itt") is None
