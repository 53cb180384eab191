"""Parity cases for the scans, max/min with dim and masked_select: lines longer than the
device scan's block (several tiles), dims first, middle and last, ties (the index rules) and
a zero in cumprod's line."""

import numpy as np

from tests.kernel_cases import KernelCase

LOOSE = {np.float32: 1e-5, np.float64: 1e-12}  # the device scan adds in tree order


def _ties(rng, shape, dtype):
    return rng.integers(-2, 3, shape).astype(dtype)  # few values: many ties


def _with_zero(rng, dtype):
    x = rng.uniform(0.5, 1.5, (3, 11)).astype(dtype)
    x[1, 4] = 0  # (one line with a zero)
    return x


CASES = [
    KernelCase("cumsum_forward", lambda r, d: ((r.standard_normal((3, 19)).astype(d), 1), {}),
               "long-lines", tol=LOOSE),
    KernelCase("cumsum_forward", lambda r, d: ((r.standard_normal((4, 3, 5)).astype(d), 0), {}),
               "dim0", tol=LOOSE),
    KernelCase("cumprod_forward", lambda r, d: ((_with_zero(r, d), 1), {}), "zero", tol=LOOSE),
    KernelCase("cumprod_forward",
               lambda r, d: ((r.uniform(0.5, 1.5, (2, 9, 3)).astype(d), 1), {}), "middle",
               tol=LOOSE),
    KernelCase("cummax_forward", lambda r, d: ((_ties(r, (3, 19), d), 1), {}), "ties"),
    KernelCase("cummax_forward", lambda r, d: ((_ties(r, (10, 3), d), 0), {"largest": False}),
               "min-dim0"),
    KernelCase("max_dim_forward", lambda r, d: ((_ties(r, (3, 4, 5), d), 1), {}), "ties"),
    KernelCase("max_dim_forward",
               lambda r, d: ((_ties(r, (3, 7), d), 1), {"keepdim": True, "largest": False}),
               "min-keepdim"),
    KernelCase("max_dim_forward", lambda r, d: ((r.standard_normal((37,)).astype(d), 0), {}),
               "1d"),
    KernelCase("masked_select_forward",
               lambda r, d: ((r.standard_normal((3, 13)).astype(d), m := r.random((3, 13)) > 0.4,
                              int(m.sum())), {}), "2d"),
    KernelCase("nonzero_forward",
               lambda r, d: ((m := r.random((3, 4, 5)) > 0.6, int(m.sum())), {}), "3d"),
]
