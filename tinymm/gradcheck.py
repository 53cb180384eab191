"""Finite-difference gradient checking: is a hand-written backward right?

For a function ``f`` of inputs ``x_1..x_k`` with output ``y``, pick a random upstream gradient
``v`` shaped like ``y`` and look at the scalar ``L = sum(y * v)``. Backward gives the analytic
``dL/dx`` for every input in one pass; the central difference::

    dL/dx[i] ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

gives the numeric one, element by element, with error O(eps^2). A random ``v`` (rather than
``y.sum()``) matters: with ``v = 1`` a backward that mixes up two output elements, or forgets
a transpose on a square matrix, can still sum to the right answer.

Everything runs in float64: in float32 the rounding error of ``L`` (about 1e-7 relative)
divided by ``2 eps`` swamps the derivative for any eps small enough to keep the O(eps^2)
truncation error down. Elements where both derivatives are ~0 (the 0/0 case) pass by the
absolute tolerance instead of producing a meaningless relative error.

One tolerance story. In float64 with eps = 1e-6 the relative error of a right backward is
about 1e-9 (rounding) to 1e-6 (truncation, a large third derivative); 1e-4 is suspicious
(nearly flat function, a kink, or a small stray term); 1e-2 and above is a bug. ``verdict``
puts that into words. The default tolerance (``RTOL`` 1e-5, ``ATOL`` 1e-7) rejects a backward
off by 0.05%; ``strict=True`` (rtol 1e-6, atol 1e-8) is what exercises use.

Kinks. Where the function has no derivative (ReLU at 0, max with ties) the two one-sided
slopes differ and the central difference lands between them. gradcheck recognises such an
element (the one-sided slopes differ by an amount that does not shrink with eps, and the
backward's value lies between them, a valid subgradient) and reports it with a
``GradcheckKinkWarning`` instead of failing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinymm.autograd import no_grad
from tinymm.tensor import Tensor

# Default tolerances. In float64 with eps = 1e-6 the central difference is good to about
# 1e-9 relative (rounding of L over 2 eps, plus O(eps^2) truncation), so these sit two orders
# of magnitude above its noise while a backward off by 0.05% (5e-4 relative) fails. Strict
# mode (the exercises) asks for the truncation-error level itself.
ATOL = 1e-7
RTOL = 1e-5
STRICT_ATOL, STRICT_RTOL = 1e-8, 1e-6


class GradcheckError(AssertionError):
    """A backward disagreed with finite differences; the message says where and by how much."""


class GradcheckKinkWarning(UserWarning):
    """Some elements sit on a kink: the backward gave a valid one-sided slope there."""




def verdict(rel_error: float) -> str:
    """What a float64 relative error between an analytic and a numeric gradient means."""
    if rel_error <= 1e-9:
        return "right (agreement to float64 rounding, <= 1e-9)"
    if rel_error <= 1e-6:
        return "right (within finite-difference truncation error, <= 1e-6)"
    if rel_error <= 1e-4:
        return ("suspicious (1e-6 to 1e-4: a right backward agrees better unless the function is "
                "nearly flat or has a kink here; look for a small stray term)")
    if rel_error <= 1e-2:
        return "wrong (1e-4 to 1e-2: a small but real error, typically a missing or stray term)"
    return "wrong (1e-2 or more: a bug, such as a wrong formula, factor, sign or index)"


def _prepare(inputs: Sequence[Any]) -> tuple[list[Any], list[int], list[str]]:
    """float inputs -> float64 leaf Tensors that require grad; others pass through."""
    prepared, checked, names = [], [], []
    for i, value in enumerate(inputs):
        array = value.array if isinstance(value, Tensor) else value
        name = (value.name if isinstance(value, Tensor) and value.name else f"inputs[{i}]")
        names.append(name)
        if isinstance(array, np.ndarray) and array.dtype.kind == "f":
            wants_grad = not isinstance(value, Tensor) or value.requires_grad
            t = Tensor._make(array.astype(np.float64), wants_grad)
            t.name = name
            prepared.append(t)
            if wants_grad:
                checked.append(i)
        else:
            prepared.append(value)
    return prepared, checked, names


def _outputs(result) -> list[Tensor]:
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    return [o for o in outs if isinstance(o, Tensor)]


def _scalar(outs: list[Tensor], vs: list[np.ndarray]) -> float:
    return float(sum(np.sum(o.array.astype(np.float64) * v) for o, v in zip(outs, vs)))


def _compare(fn: Callable, inputs: Sequence[Any], eps: float, seed: int):
    prepared, checked, names = _prepare(inputs)
    if not checked:
        raise ValueError("gradcheck: no floating-point input to check (pass float arrays or "
                         "Tensors with requires_grad=True)")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn(*prepared))
    if not outs:
        raise ValueError("gradcheck: fn returned no Tensor")
    vs = [rng.standard_normal(o.shape) for o in outs]
    differentiable = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
    if not differentiable:
        raise ValueError("gradcheck: fn's output does not depend on any checked input")
    if len(differentiable) == 1:  # the common case: backward with v directly
        root, v = differentiable[0]
        upstream = v.astype(root.dtype)
    else:  # several outputs: L = sum_k <out_k, v_k> as one scalar graph
        root = sum((o * Tensor._make(v.astype(o.dtype))).sum() for o, v in differentiable)
        upstream = None
    root.backward(upstream)
    analytic = {i: (prepared[i].grad.array if prepared[i].grad is not None
                    else np.zeros(prepared[i].shape)) for i in checked}

    numeric, probe = {}, {}
    with no_grad():
        for i in checked:
            x = prepared[i].array  # perturbed in place, restored after each element
            grad = np.zeros(x.shape)
            flat = x.reshape(-1)
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = _scalar(_outputs(fn(*prepared)), vs)
                flat[j] = original - eps
                minus = _scalar(_outputs(fn(*prepared)), vs)
                flat[j] = original
                grad.reshape(-1)[j] = (plus - minus) / (2 * eps)
            numeric[i] = grad
    probe.update(fn=fn, prepared=prepared, vs=vs, eps=eps)
    return checked, names, analytic, numeric, probe


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    diff = np.abs(analytic - numeric)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, diff / scale, 0.0)  # 0/0: both exactly zero, no error
    return rel


def _error_map(bad: np.ndarray, max_rows: int = 12, max_cols: int = 40) -> str:
    """A picture of which elements failed: '.' agrees, 'X' disagrees."""
    grid = bad.reshape(1, -1) if bad.ndim < 2 else bad.reshape(-1, bad.shape[-1])
    lines = []
    for row in grid[:max_rows]:
        cells = "".join("X" if b else "." for b in row[:max_cols])
        lines.append("    " + cells + (" ..." if row.size > max_cols else ""))
    if grid.shape[0] > max_rows:
        lines.append(f"    ... ({grid.shape[0] - max_rows} more rows)")
    return "\n".join(lines)


def _one_sided(probe: dict, i: int, j: int, eps: float) -> tuple[float, float]:
    """(forward, backward) one-sided difference quotients of L at element j of input i."""
    fn, prepared, vs = probe["fn"], probe["prepared"], probe["vs"]
    flat = prepared[i].array.reshape(-1)
    original = flat[j]
    values = []
    for delta in (eps, 0.0, -eps):
        flat[j] = original + delta
        values.append(_scalar(_outputs(fn(*prepared)), vs))
    flat[j] = original
    return (values[0] - values[1]) / eps, (values[1] - values[2]) / eps


def _kinks(probe: dict, i: int, analytic: np.ndarray, bad: np.ndarray, atol: float,
           rtol: float) -> np.ndarray:
    """Which failing elements straddle a kink: one-sided slopes that differ by an amount that
    does not shrink with eps, with the analytic value between them."""
    kinks = np.zeros(bad.shape, dtype=bool)
    eps = probe["eps"]
    with no_grad():
        for index in np.argwhere(bad)[:256]:  # a kink is a few elements, never the whole map
            j = int(np.ravel_multi_index(tuple(index), bad.shape))
            right, left = _one_sided(probe, i, j, eps)
            right_small, left_small = _one_sided(probe, i, j, eps / 10)
            gap, gap_small = abs(right - left), abs(right_small - left_small)
            if gap <= atol + rtol * max(abs(right), abs(left)) or gap_small < 0.5 * gap:
                continue  # the slopes agree, or their gap shrinks with eps: smooth here
            a = float(analytic[tuple(index)])
            low, high = min(right, left), max(right, left)
            slack = atol + rtol * max(abs(low), abs(high))
            kinks[tuple(index)] = low - slack <= a <= high + slack
    return kinks


def gradcheck(fn: Callable, inputs: Sequence[Any], eps: float | None = None,
              atol: float | None = None, rtol: float | None = None, seed: int = 0,
              strict: bool = False) -> bool:
    """Compare ``fn``'s backward with central finite differences, in float64.

    ``inputs``: arrays or Tensors; float ones are promoted to float64 and checked (a Tensor with
    ``requires_grad=False`` is held constant), others (integer targets, ...) pass through.
    An element passes when ``|analytic - numeric| <= atol + rtol * |numeric|`` (defaults rtol
    1e-5, atol 1e-7; ``strict=True``: rtol 1e-6, atol 1e-8), or when it sits on a kink (see the
    module docstring; a ``GradcheckKinkWarning`` says so). Returns True, or raises
    ``GradcheckError`` naming the input, the worst element's index, both values, the relative
    error and its ``verdict``, with a map of every failing element.
    """
    eps = 1e-6 if eps is None else eps
    atol = (STRICT_ATOL if strict else ATOL) if atol is None else atol
    rtol = (STRICT_RTOL if strict else RTOL) if rtol is None else rtol
    checked, names, analytic, numeric, probe = _compare(fn, inputs, eps, seed)
    for i in checked:
        a, n = analytic[i], numeric[i]
        bad = np.abs(a - n) > atol + rtol * np.abs(n)
        kinks = _kinks(probe, i, a, bad, atol, rtol) if bad.any() else np.zeros_like(bad)
        if kinks.any():
            where = tuple(int(w) for w in np.argwhere(kinks)[0])
            warnings.warn(f"gradcheck: {int(kinks.sum())} element(s) of {names[i]} sit on a kink "
                          f"(e.g. {where}): the one-sided slopes differ and the backward's value "
                          "lies between them, a valid subgradient, so they are not counted as "
                          "errors", GradcheckKinkWarning, stacklevel=2)
            bad &= ~kinks
        if bad.any():
            rel = _relative_error(a, n)
            worst = np.unravel_index(np.argmax(np.where(bad, np.abs(a - n), -1)), a.shape)
            worst = tuple(int(w) for w in worst)
            message = (
                f"gradcheck failed for {names[i]} (shape {a.shape}): {int(bad.sum())} of "
                f"{a.size} elements disagree.\n"
                f"  worst element {worst}: analytic {a[worst]:.6g}, numeric {n[worst]:.6g}, "
                f"relative error {rel[worst]:.3g} (atol {atol:g}, rtol {rtol:g}): "
                f"{verdict(float(rel[worst]))}\n"
                f"  error map (X = wrong):\n{_error_map(bad)}"
            )
            raise GradcheckError(message)
    return True


def gradcheck_report(fn: Callable, inputs: Sequence[Any], eps: float | None = None,
                     seed: int = 0) -> dict[str, float]:
    """The maximum relative error of each checked input: ``{name: max_rel_error}``.

    For teaching: watch the error fall as a backward gets fixed, or grow as eps shrinks into
    rounding noise. Elements where both gradients are exactly 0 count as error 0.
    """
    eps = 1e-6 if eps is None else eps
    checked, names, analytic, numeric, _ = _compare(fn, inputs, eps, seed)
    return {names[i]: float(_relative_error(analytic[i], numeric[i]).max(initial=0.0))
            for i in checked}
