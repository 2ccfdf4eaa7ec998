"""The fenced code blocks of the docs site's pages, as the example tests read them.

Every fence names its kind: ``bash`` (commands the tests run, one per line, ``\\`` joins
lines, ``#`` starts a comment), ``console`` (``$ zenopt …`` lines that must fail with exit
code 2, each followed by the lines it must print: the docs' error examples), ``yaml`` (a
configuration fragment the tests load as ``--config`` does), ``python`` (run by the tests;
with ``title="FILE"`` it is a file the page's later commands use; with
``title="examples/FILE"`` an excerpt of that file, checked against it) or ``text`` (output,
diagrams: nothing to run). A block the tests cannot run is preceded by
``<!-- not-run: REASON -->``, and only a profiler (VTune, Nsight), a GPU or a second machine
is a reason. A block that another test runs, as documented with a small budget and
with more checks than running it, is preceded by ``<!-- run-by: tests/FILE.py::TEST -->``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).parents[2] / "docs"
KINDS = ("bash", "console", "yaml", "python", "text")
REASONS = ("VTune", "Nsight", "a GPU", "a second machine")
_FENCE = re.compile(r'^( *)```(\S*)(?:\s+title="([^"]+)")?\s*$')  # indented: in a list
_NOT_RUN = re.compile(r"^<!-- not-run: (.+?) -->$")
_RUN_BY = re.compile(r"^<!-- run-by: (\S+) -->$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to docs/ (README.md: the repository's)
    line: int  # of the opening fence, 1-based
    kind: str
    title: str | None
    text: str
    not_run: str | None  # the reason, when marked
    run_by: str | None  # the test that runs it, when another test does

    @property
    def runs_here(self) -> bool:
        """Whether the docs' example tests run it."""
        return self.kind != "text" and self.not_run is None and self.run_by is None

    @property
    def where(self) -> str:
        return f"{self.page if self.page == 'README.md' else 'docs/' + self.page}:{self.line}"


def pages() -> list[Path]:
    """The docs site's pages, and the README (its examples are tested too)."""
    return [*sorted(DOCS.rglob("*.md")), DOCS.parent / "README.md"]


def blocks(page: Path) -> list[Block]:
    """The page's fenced blocks, in order (fences inside a block are its text)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent = fence.group(1)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == indent + "```")
        previous = next((x for x in reversed(lines[:i]) if x.strip()), "").strip()
        marked, elsewhere = _NOT_RUN.match(previous), _RUN_BY.match(previous)
        found.append(
            Block(
                page=str(page.relative_to(DOCS)) if page.is_relative_to(DOCS) else page.name,
                line=i + 1,
                kind=fence.group(2),
                title=fence.group(3),
                text="\n".join(line.removeprefix(indent) for line in lines[i + 1 : end]),
                not_run=marked.group(1) if marked else None,
                run_by=elsewhere.group(1) if elsewhere else None,
            )
        )
        i = end + 1
    return found


def commands(text: str) -> list[str]:
    """The commands of a ``bash`` block: continuation lines joined (and lines inside an open
    quote), comments dropped."""
    out: list[str] = []
    pending = ""
    for raw in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = raw if pending else re.sub(r"(^|\s)#.*$", "", raw).strip()
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        if pending.strip():
            out.append(re.sub(r"(^|\s)#[^'\"]*$", "", pending).strip())
        pending = ""
    return out


def console(text: str) -> list[tuple[str, list[str]]]:
    """The ``$ command`` lines of a ``console`` block, each with the output lines after it."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out
