"""Parity cases of the CTC loss kernels: padded and concatenated targets, repeated symbols
(the skip rule), short inputs, an empty target, an unreachable target under zero_infinity, a
blank that is not class 0."""

from __future__ import annotations

import numpy as np

from tests.kernel_cases import KernelCase


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _case(r: np.random.Generator, d: np.dtype, T: int, C: int, lengths, input_lengths,
          padded: bool, blank: int = 0, zero_infinity: bool = False, repeat: bool = False):
    N, S = len(lengths), max(max(lengths), 1)
    symbols = [c for c in range(C) if c != blank]
    targets = r.choice(symbols, size=(N, S)).astype(np.int64)  # (N, S)
    if repeat:
        targets[:, 1] = targets[:, 0]  # a repeated symbol needs a blank between
    lp = _log_softmax(r.standard_normal((T, N, C)) * 2).astype(d)  # (T, N, C)
    tl = np.array(lengths, dtype=np.int64)
    flat = np.concatenate([targets[n, :tl[n]] for n in range(N)]) if not padded else targets
    args = (lp, flat, np.array(input_lengths, dtype=np.int64), tl, int(tl.max()))
    return args, {"blank": blank, "zero_infinity": zero_infinity}


_TOL = {np.float32: 2e-5, np.float64: 1e-12}
CASES = [
    KernelCase("ctc_loss_forward", lambda r, d: _case(r, d, 7, 5, [3, 1, 2], [7, 6, 4], True),
               "padded", tol=_TOL),
    KernelCase("ctc_loss_forward", lambda r, d: _case(r, d, 6, 4, [2, 3], [6, 5], False,
                                                      repeat=True), "concat-repeat", tol=_TOL),
    KernelCase("ctc_loss_forward", lambda r, d: _case(r, d, 5, 4, [0, 2, 3], [5, 0, 5], True,
                                                      blank=3, zero_infinity=True),
               "empty-blank3", tol=_TOL),
    KernelCase("ctc_loss_forward", lambda r, d: _case(r, d, 4, 3, [4, 1], [3, 4], True,
                                                      zero_infinity=True), "unreachable",
               tol=_TOL),
]
