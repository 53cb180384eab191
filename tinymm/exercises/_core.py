"""The machinery every exercise shares: cases, known mistakes, loading the student's file,
running their function, and turning a wrong array into a diagnosis.

An exercise asks for one function (``entry``) in ``tutorials/exercises/<id>.py``. Its checker
runs that function on a few named cases (``Case``: the arguments, the expected outputs from
tinymm's reference kernels, and the sizes a mistake can multiply by) and compares every
output in float64 with the strict tolerance of ``tinymm.gradcheck`` (relative error 1e-6).
When an output is wrong the checker says, in this order of preference:

1. which known mistake it matches (each exercise computes what the classic mistakes would
   return on the case, e.g. the weight gradient of only the last time step);
2. whether it is the expected array times a constant (the batch size, 2, -1, sqrt(d), ...),
   or the expected array with axes transposed or flipped;
3. otherwise where it is wrong: how many elements, the first few, the worst relative error
   and what that size of error usually means (``tinymm.gradcheck.verdict``).

It always names the case that failed and the cases that passed. An exception raised inside
the student's function is reported as theirs, with the frames of their own file.
"""

from __future__ import annotations

import importlib.util
import itertools
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinymm.gradcheck import STRICT_RTOL, verdict

NOT_IMPLEMENTED = "not implemented yet"


@dataclass
class Case:
    """One input configuration: ``args`` for the student's function and the expected outputs."""

    name: str
    args: tuple
    expected: dict[str, np.ndarray]
    sizes: dict[str, float] = field(default_factory=dict)  # label -> size, for factor hints
    extra: dict[str, Any] = field(default_factory=dict)  # whatever the mistakes need


@dataclass
class Mistake:
    """A classic wrong answer: what it would return on a case, and what to tell the student."""

    name: str
    produce: Callable[[Case], dict[str, np.ndarray]]
    diagnosis: str


@dataclass
class Result:
    """The verdict on one student function: ``ok``, a message to print, and the details."""

    ok: bool
    message: str
    status: str  # "passing" | "failing" | "not started" | "error"
    case: str | None = None
    diagnosis: str | None = None

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class Exercise:
    """An exercise: its id, the function the student writes, its cases, mistakes and hints."""

    id: str
    title: str
    tutorial: str
    entry: str
    outputs: tuple[str, ...]
    axes: dict[str, tuple[str, ...]]  # output name -> axis labels, for transposes and flips
    make_cases: Callable[[], list[Case]]
    mistakes: list[Mistake]
    hints: list[str]
    call: Callable[[Callable, Case], Any] | None = None  # how to call the student (default *args)
    factor_questions: dict[str, str] = field(default_factory=dict)  # diagnosis part -> question
    nonfinite_hint: str = ""
    explain: dict[str, Callable] = field(default_factory=dict)  # output -> where-it-is-wrong text
    wrong_answers: dict[str, tuple[Callable, str]] = field(default_factory=dict)

    def run(self, fn: Callable, case: Case) -> Any:
        return self.call(fn, case) if self.call is not None else fn(*_copies(case.args))


def _copies(args: Sequence[Any]) -> tuple:
    """Fresh copies, so a student who writes into an argument cannot change the next case."""
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def wrong_answer(student: Callable, bug: str, prefix: str) -> Callable:
    """A wrong answer for ``Exercise.wrong_answers``: ``student(*args, bug)``, named
    ``wrong_<prefix>_<bug>`` (spaces and slashes as underscores)."""
    def fn(*args):
        return student(*args, bug)
    fn.__name__ = f"wrong_{prefix}_{bug.replace(' ', '_').replace('/', '_')}"
    return fn


# ------------------------------------------------------------------------ student's code
class StudentError(Exception):
    """The student's file or function raised; the message carries their traceback."""


def student_traceback(err: BaseException, fn: Callable | None = None) -> str:
    """The traceback of ``err`` from the student's function ``fn`` down (the checker's own
    frames left out); without ``fn``, every frame outside this package."""
    frames = traceback.extract_tb(err.__traceback__)
    code = getattr(fn, "__code__", None)
    start = next((k for k, f in enumerate(frames) if code is not None
                  and f.name == code.co_name and f.filename == code.co_filename), None)
    if start is not None:
        frames = frames[start:]
    else:
        here = str(Path(__file__).resolve().parent)
        frames = [f for f in frames if not str(Path(f.filename).resolve()).startswith(here)]
    lines = ["Traceback (most recent call last, your code only):"]
    lines += [line.rstrip("\n") for line in traceback.format_list(frames)]
    lines += [line.rstrip("\n") for line in traceback.format_exception_only(type(err), err)]
    return "\n".join(lines)


def load_function(path: str | Path, entry: str) -> Callable:
    """Import ``path`` as a fresh module and return its function ``entry``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exercise file at {path}")
    name = "tinymm_exercise_" + "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # a syntax or import error in the student's file
        raise StudentError(f"importing {path.name} raised {type(err).__name__}: this is an error "
                           f"in your file, not in the checker.\n{student_traceback(err)}") from err
    fn = getattr(module, entry, None)
    if not callable(fn):
        raise StudentError(f"{path.name} must define a function named {entry!r}")
    return fn


# ---------------------------------------------------------------------------- comparing
def _as_outputs(ex: Exercise, returned: Any) -> dict[str, np.ndarray] | str:
    """The student's return value as {output name: float64 array}, or a message why not."""
    values = returned if len(ex.outputs) > 1 else (returned,)
    if len(ex.outputs) > 1 and (not isinstance(returned, (tuple, list))
                                or len(returned) != len(ex.outputs)):
        got = len(returned) if isinstance(returned, (tuple, list)) else type(returned).__name__
        return (f"{ex.entry} must return {len(ex.outputs)} values ({', '.join(ex.outputs)}); "
                f"got {got}")
    out = {}
    for name, value in zip(ex.outputs, values):
        if value is None:
            return f"{name} is None: return an array (did you forget a return statement?)"
        try:
            out[name] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return f"{name} must be an array of numbers; got {type(value).__name__}"
    return out


def relative_error(yours: np.ndarray, expected: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(yours), np.abs(expected))
    tiny = 1e-12 * max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > tiny, np.abs(yours - expected) / scale, 0.0)


def matches(yours: np.ndarray, expected: np.ndarray, rtol: float = STRICT_RTOL) -> bool:
    """Same shape, NaN/inf in the same places, finite elements within ``rtol``."""
    if yours.shape != expected.shape:
        return False
    finite = np.isfinite(expected)
    if not np.array_equal(finite, np.isfinite(yours)) or not finite.any():
        return bool(np.array_equal(yours, expected, equal_nan=True))
    return bool(np.all(relative_error(yours[finite], expected[finite]) <= rtol))


def _fmt_size(value: float) -> str:
    return f"{value:g}" if float(value).is_integer() else f"{value:.4g}"


def _factor(yours: np.ndarray, expected: np.ndarray, sizes: dict[str, float]) -> str | None:
    """'... is the expected one divided by 3 (N, the batch size)' when yours = c * expected."""
    big = np.abs(expected) > 1e-9 * max(float(np.abs(expected).max(initial=0.0)), 1e-300)
    if big.sum() == 0:
        return None
    c = float(np.median(yours[big] / expected[big]))
    if c == 0 or not matches(yours, c * expected, rtol=1e-6):
        return None
    if abs(c + 1) < 1e-6:
        return "is the expected one with its sign flipped (times -1)"
    for label, size in sizes.items():
        if size in (0, 1):
            continue
        for target, verb, flipped in ((1 / size, "divided by", ""), (size, "multiplied by", ""),
                                      (-1 / size, "divided by", " and its sign flipped"),
                                      (-size, "multiplied by", " and its sign flipped")):
            if abs(c - target) <= 1e-6 * abs(target):
                return f"is the expected one {verb} {_fmt_size(size)} ({label}){flipped}"
    if abs(c - 2) < 1e-6 or abs(c - 0.5) < 1e-6:
        return f"is the expected one {'multiplied' if c > 1 else 'divided'} by 2"
    return f"is the expected one times {c:.4g} everywhere: a constant factor is wrong"


def _rearranged(yours: np.ndarray, expected: np.ndarray, axes: tuple[str, ...]) -> str | None:
    """'... equals the expected one with axes i, j swapped' (or flipped along some axes)."""
    nd = expected.ndim
    if nd < 1 or nd > 5 or yours.ndim != nd:
        return None
    labels = axes if len(axes) == nd else tuple(f"axis {k}" for k in range(nd))
    for perm in itertools.permutations(range(nd)):
        moved = np.transpose(expected, perm)
        if moved.shape != yours.shape:
            continue
        for r in range(nd + 1):
            for flips in itertools.combinations(range(nd), r):
                if perm == tuple(range(nd)) and not flips:
                    continue
                candidate = np.flip(moved, flips) if flips else moved
                if matches(yours, candidate, rtol=1e-6):
                    parts = []
                    if perm != tuple(range(nd)):
                        order = ", ".join(labels[p] for p in perm)
                        parts.append(f"with its axes in the order ({order}) instead of "
                                     f"({', '.join(labels)}): transposed")
                    if flips:
                        parts.append("flipped along " + ", ".join(labels[f] for f in flips))
                    return "equals the expected one " + " and ".join(parts)
    return None


def _locate(name: str, yours: np.ndarray, expected: np.ndarray, rtol: float) -> str:
    rel = relative_error(yours, expected)
    bad = rel > rtol
    lines = [f"{name} is wrong in {int(bad.sum())} of {bad.size} elements"]
    for index in np.argwhere(bad)[:4]:
        idx = tuple(int(i) for i in index)
        lines.append(f"  {name}[{', '.join(map(str, idx))}]: yours {yours[idx]:.6g}, "
                     f"expected {expected[idx]:.6g}")
    if bad.sum() > 4:
        lines.append(f"  ... and {int(bad.sum()) - 4} more")
    worst = float(rel.max())
    lines.append(f"  largest relative error {worst:.2g}: {verdict(worst)}")
    return "\n".join(lines)


def _where(ex: Exercise, name: str, yours: np.ndarray, expected: np.ndarray) -> str:
    custom = ex.explain.get(name)
    text = custom(yours, expected) if custom is not None else None
    return text or _locate(name, yours, expected, STRICT_RTOL)


def compare_output(ex: Exercise, name: str, yours: np.ndarray, case: Case,
                   mistake_outputs: list[tuple[Mistake, dict]]) -> tuple[str, str | None] | None:
    """None when right; else (the explanation, the diagnosis if one was found)."""
    expected = case.expected[name]
    if yours.shape != expected.shape:
        text = f"{name} has shape {yours.shape}, expected {expected.shape}"
        if sorted(yours.shape) == sorted(expected.shape):
            text += " (the same sizes in another order: transposed?)"
        for mistake, outs in mistake_outputs:
            if name in outs and np.shape(outs[name]) == yours.shape and matches(yours, outs[name]):
                return text, mistake.diagnosis
        return text, None
    if not np.all(np.isfinite(yours)):
        text = f"{name} contains NaN or inf ({int((~np.isfinite(yours)).sum())} elements)"
        return text, (ex.nonfinite_hint or None)
    if matches(yours, expected):
        return None
    for mistake, outs in mistake_outputs:
        if name in outs and matches(yours, np.asarray(outs[name], dtype=np.float64)):
            return _where(ex, name, yours, expected), mistake.diagnosis
    factor = _factor(yours, expected, case.sizes)
    if factor:
        return _where(ex, name, yours, expected), f"your {name} {factor}"
    moved = _rearranged(yours, expected, ex.axes.get(name, ()))
    if moved:
        return _where(ex, name, yours, expected), f"your {name} {moved}"
    return _where(ex, name, yours, expected), None


def _mistake_outputs(ex: Exercise, case: Case) -> list[tuple[Mistake, dict]]:
    found = []
    for mistake in ex.mistakes:
        try:
            with np.errstate(all="ignore"):
                outs = mistake.produce(case)
        except (ValueError, IndexError, ZeroDivisionError, FloatingPointError):
            continue  # this mistake cannot run on this case (it would crash the student too)
        found.append((mistake, {k: np.asarray(v, dtype=np.float64) for k, v in outs.items()}))
    return found


def _grade_case(ex: Exercise, fn: Callable, case: Case) -> Result | list | None:
    """None when right; a Result that ends the check; or [(name, explanation, diagnosis)]."""
    try:
        with np.errstate(all="ignore"):
            returned = ex.run(fn, case)
    except NotImplementedError as err:
        return Result(False, f"{ex.id}: not started: {ex.entry} raises NotImplementedError "
                      f"({err}). Open the exercise file and write it.", "not started", case.name)
    except Exception as err:  # the student's own bug: theirs, with their traceback
        return Result(False, f"{ex.id}: your {ex.entry} raised {type(err).__name__} in case "
                      f"'{case.name}': this is an error in your code, not in the checker.\n"
                      f"{student_traceback(err, fn)}", "error", case.name)
    outs = _as_outputs(ex, returned)
    if isinstance(outs, str):
        return Result(False, f"{ex.id}: in case '{case.name}': {outs}", "failing", case.name)
    problems, mistakes = [], None
    for name in ex.outputs:
        if mistakes is None and not matches(outs[name], case.expected[name]):
            mistakes = _mistake_outputs(ex, case)
        found = compare_output(ex, name, outs[name], case, mistakes or [])
        if found is not None:
            problems.append((name, *found))
    return problems or None


def _factor_question(ex_hints: dict[str, str], diagnosis: str) -> str:
    for key, question in ex_hints.items():
        if key in diagnosis:
            return f"{diagnosis}: {question}"
    return diagnosis


def check_function(ex: Exercise, fn: Callable) -> Result:
    """Run ``fn`` on every case of ``ex``; the Result's message diagnoses the first failure."""
    cases = ex.make_cases()
    passed, failed, first = [], [], None
    for case in cases:
        graded = _grade_case(ex, fn, case)
        if isinstance(graded, Result) and first is not None:  # report the earlier failure first
            failed.append(f"{case.name} (your function raised there: run it on that case)")
            break
        if isinstance(graded, Result):
            return graded
        if graded is None:
            passed.append(case.name)
            continue
        failed.append(case.name)
        first = first or (case, graded)
    if first is None:
        return Result(True, f"{ex.id}: passing. {ex.entry} matches the reference in every case "
                      f"({'; '.join(passed)}) to a relative error of {STRICT_RTOL:g}.", "passing")
    case, problems = first
    head = f"{ex.id}: not yet. Wrong in case '{case.name}'"
    if passed:
        head += f" (right in: {'; '.join(passed)})"
    if len(failed) > 1:
        head += f"; also wrong in: {'; '.join(failed[1:])}"
    lines, seen = [head + "."], {}
    for name, _, found in problems:  # one line per distinct diagnosis, naming its outputs
        if found:
            seen.setdefault(_factor_question(ex.factor_questions, found), []).append(name)
    for found, names in seen.items():
        which = f" ({', '.join(names)})" if 1 < len(names) < len(problems) else ""
        lines.append(f"  diagnosis{which}: {found}")
    for _, explanation, _ in problems:
        lines.append("  " + explanation.replace("\n", "\n  "))
    diagnosis = next(iter(seen), None)
    right = [name for name in ex.outputs if name not in {p[0] for p in problems}]
    if right and len(ex.outputs) > 1:
        lines.append(f"  right: {', '.join(right)}")
    return Result(False, "\n".join(lines), "failing", case.name, diagnosis)
