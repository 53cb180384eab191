"""Parity cases for topk: ties (kept in index order), NaN (after every number) and -inf,
both ends. The values compared must be finite (the parity test's norm), so k stops before a
row's NaN and, for the largest, its -inf."""

import numpy as np

from tests.kernel_cases import KernelCase


def _ties(rng, dtype):
    x = rng.integers(-2, 3, (5, 7)).astype(dtype)  # (5, 7) few values: many ties
    x[1, 2] = x[3, 0] = np.nan
    x[4, ::3] = -np.inf  # (3 of 7)
    return x


CASES = [
    KernelCase("topk_forward",
               lambda r, d: ((r.standard_normal((3, 37)).astype(d), 4), {}), "largest"),
    KernelCase("topk_forward", lambda r, d: ((_ties(r, d), 4), {}), "ties-nan-inf"),
    KernelCase("topk_forward", lambda r, d: ((_ties(r, d)[:4], 3), {"largest": False}),
               "smallest-ties"),
    KernelCase("topk_forward",  # k past numba_cpu/index.py's SELECT_K: its sorting path
               lambda r, d: ((r.standard_normal((3, 37)).astype(d), 20), {}), "large-k"),
]
