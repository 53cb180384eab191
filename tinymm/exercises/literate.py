"""Run a jupytext percent-format tutorial as a lesson: print its prose, run its code.

A tutorial is a ``.py`` file of cells: ``# %% [markdown]`` cells of prose written as
comments and ``# %%`` cells of code. Run as a script, its first code cell calls
``run_as_lesson(globals())``, which takes over: every markdown cell is printed as text (the
explanations a reader of the output needs) and every code cell is executed in one shared
namespace, its output appearing after the prose that introduces it. The source itself is
not printed. ``execute_cells`` does the same for the notebook builder and returns each code
cell's output instead of printing it.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_MARKER = re.compile(r"^# %%(.*)$")


@dataclass
class Cell:
    kind: str  # "markdown" | "code"
    source: str
    line: int  # 1-based line of the first source line in the file


def parse_cells(text: str) -> list[Cell]:
    """The cells of a percent-format file (the jupytext header block is skipped)."""
    cells, kind, start, lines = [], None, 0, []

    def close():
        body = "\n".join(lines).strip("\n")
        if kind is not None and body.strip():
            cells.append(Cell(kind, body, start))

    for number, line in enumerate(text.splitlines(), start=1):
        found = _MARKER.match(line)
        if found:
            close()
            kind = "markdown" if "[markdown]" in found.group(1) else "code"
            start, lines = number + 1, []
        elif kind is not None:
            lines.append(line)
    close()
    return cells


def prose(cell: Cell) -> str:
    """A markdown cell's text without the comment markers."""
    out = []
    for line in cell.source.splitlines():
        out.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    return "\n".join(out)


def _run(cell: Cell, path: str, namespace: dict) -> None:
    code = compile("\n" * (cell.line - 1) + cell.source, path, "exec")
    exec(code, namespace)  # noqa: S102 - running the tutorial's own cells is the point


def execute_cells(path: str | Path) -> list[tuple[Cell, str]]:
    """Run every code cell of ``path`` in one namespace; [(cell, captured stdout)] in order."""
    path = str(path)
    namespace = {"__name__": "__lesson__", "__file__": path}
    results = []
    for cell in parse_cells(Path(path).read_text()):
        if cell.kind != "code":
            results.append((cell, ""))
            continue
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            _run(cell, path, namespace)
        results.append((cell, buffer.getvalue()))
    return results


def run_as_lesson(namespace: dict) -> bool:
    """Called from a tutorial's first code cell. Run as a script (``__main__`` with a file),
    print the prose and run the cells, then return True so the script stops; inside a
    notebook or the notebook builder, return False and let the cells run as they are."""
    path = namespace.get("__file__")
    if namespace.get("__name__") != "__main__" or not path:
        return False
    shared = {"__name__": "__lesson__", "__file__": path}
    for cell in parse_cells(Path(path).read_text()):
        if cell.kind == "markdown":
            text = prose(cell)
            print("\n" + text)
        else:
            _run(cell, path, shared)
    sys.stdout.flush()
    return True
