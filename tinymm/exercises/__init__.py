"""Exercises: a registry of stubs to write, checkers that diagnose, and graded hints.

Each exercise has an id (``03-conv-dw``), a stub the student edits
(``tutorials/exercises/<id>.py``, raising ``NotImplementedError("... not implemented yet ...")``
until written), a solution kept apart (``tutorials/solutions/<id>.py``, never imported by the
stub, the tutorials or this package) and a checker here. ``tinymm exercises list | check ID |
hint ID`` is the command line; the tutorials call the same ``check``.

The student's files are looked up in ``$TINYMM_EXERCISES_DIR``, else ``./tutorials/exercises``
when it exists, else beside this package in a source checkout.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tinymm.exercises._core import (
    NOT_IMPLEMENTED,
    Case,
    Exercise,
    Mistake,
    Result,
    StudentError,
    check_function,
    load_function,
)
from tinymm.exercises.ex_attention import EXERCISES as _ATTENTION
from tinymm.exercises.ex_basics import EXERCISES as _BASICS
from tinymm.exercises.ex_conv import EXERCISES as _CONV
from tinymm.exercises.ex_norm import EXERCISES as _NORM
from tinymm.exercises.ex_rnn import EXERCISES as _RNN

_ORDER = ("01-softplus", "02-dense-backward", "02-softmax-ce", "03-conv-dw", "03-conv-dx",
          "03-maxpool-backward", "04-embedding-backward", "04-lstm-cell", "04-lstm-bptt",
          "05-attention-softmax", "05-attention-dqdkdv", "06-adam-step", "10-batchnorm-backward")
_ALL = {ex.id: ex for ex in _BASICS + _CONV + _RNN + _ATTENTION + _NORM}
EXERCISES: dict[str, Exercise] = {exercise_id: _ALL[exercise_id] for exercise_id in _ORDER}

__all__ = ["EXERCISES", "NOT_IMPLEMENTED", "Case", "Exercise", "Mistake", "Result",
           "StudentError", "check", "exercise", "exercises_dir", "hint", "load_function",
           "solution_path", "status", "student_path"]


def exercise(exercise_id: str) -> Exercise:
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"no exercise {exercise_id!r}; the exercises are: "
                       + ", ".join(EXERCISES)) from None


def _repo_root() -> Path:
    return Path(__file__).resolve().parent.parent.parent


def exercises_dir() -> Path:
    """Where the student's files live (see the module docstring)."""
    if os.environ.get("TINYMM_EXERCISES_DIR"):
        return Path(os.environ["TINYMM_EXERCISES_DIR"])
    here = Path.cwd() / "tutorials" / "exercises"
    return here if here.is_dir() else _repo_root() / "tutorials" / "exercises"


def student_path(exercise_id: str) -> Path:
    return exercises_dir() / f"{exercise(exercise_id).id}.py"


def solution_path(exercise_id: str) -> Path:
    """The worked solution (for teachers and the tests; never imported by a tutorial)."""
    return exercises_dir().parent / "solutions" / f"{exercise(exercise_id).id}.py"


def check(exercise_id: str, fn: Callable | None = None, file: str | Path | None = None) -> Result:
    """Grade ``fn``, or the function in ``file`` (default: the student's file)."""
    ex = exercise(exercise_id)
    if fn is None:
        path = Path(file) if file is not None else student_path(exercise_id)
        try:
            fn = load_function(path, ex.entry)
        except FileNotFoundError as err:
            return Result(False, f"{ex.id}: {err}", "missing")
        except StudentError as err:
            return Result(False, f"{ex.id}: {err}", "error")
    if ex.id != "04-lstm-bptt":
        return check_function(ex, fn)
    from tinymm.exercises import ex_rnn  # the student's own cell goes into their loop

    cell = _student_cell()
    ex_rnn.use_cell(cell)
    result = check_function(ex, fn)
    result.message += ("\n  (cell_backward was your 04-lstm-cell, which passes)" if cell else
                       "\n  (cell_backward was the reference cell: yours goes in once "
                       "04-lstm-cell passes)")
    return result


def _student_cell() -> Callable | None:
    """The student's 04-lstm-cell when it passes its checker, else None."""
    try:
        cell = load_function(student_path("04-lstm-cell"), EXERCISES["04-lstm-cell"].entry)
    except (FileNotFoundError, StudentError):
        return None
    return cell if check_function(EXERCISES["04-lstm-cell"], cell).ok else None


def status(exercise_id: str, file: str | Path | None = None) -> str:
    """"passing" | "failing" | "not started" | "error" | "missing" for the student's file."""
    return check(exercise_id, file=file).status


def hint(exercise_id: str, level: int = 1) -> str:
    """Hint ``level`` (1 = a nudge ... last = nearly the answer) of an exercise."""
    hints = exercise(exercise_id).hints
    level = max(1, min(level, len(hints)))
    return f"{exercise_id} hint {level} of {len(hints)}: {hints[level - 1]}"
