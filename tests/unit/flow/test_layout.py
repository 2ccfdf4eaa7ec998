"""The flow's shape, kept by tests: one package for it, short and narrow functions there, and
benchmarks that still import (a stale import in a script nobody runs in CI would hide)."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
SRC = ROOT / "src" / "zenopt"
FLOW = SRC / "flow"
MAX_LINES = 60
MAX_PARAMETERS = 5


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    return [name for name in names if name not in {"self", "cls"}]


def test_the_package_top_level_holds_only_packages() -> None:
    loose = sorted(
        p.name
        for p in SRC.iterdir()
        if p.is_file() and p.name not in {"__init__.py", "__main__.py", "py.typed"}
    )
    assert loose == [], f"modules at the top of src/zenopt: {loose}; move them into a package"


def test_no_flow_function_is_longer_than_60_lines_or_takes_more_than_5_parameters() -> None:
    too_long, too_wide = [], []
    for path in sorted(FLOW.rglob("*.py")):
        for node in _functions(path):
            where = f"{path.relative_to(SRC)}:{node.lineno} {node.name}"
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > MAX_LINES:
                too_long.append(f"{where} ({lines} lines)")
            if len(_parameters(node)) > MAX_PARAMETERS:
                too_wide.append(f"{where} ({len(_parameters(node))} parameters)")
    assert not too_long, too_long
    assert not too_wide, too_wide


def test_the_checks_see_a_function_that_breaks_them(tmp_path: Path) -> None:
    """The AST walk above finds nested and method definitions, and counts as ruff does."""
    source = "class A:\n    def m(self, a, b, c, d, e, *, f):\n" + "        x = 1\n" * 61
    path = tmp_path / "wide.py"
    path.write_text(source, encoding="utf-8")
    (method,) = _functions(path)
    assert _parameters(method) == ["a", "b", "c", "d", "e", "f"]
    assert (method.end_lineno or 0) - method.lineno + 1 == 62


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py")))
def test_every_benchmark_imports(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    module = importlib.import_module(name)
    try:
        assert callable(module.main)
    finally:
        sys.modules.pop(name, None)
