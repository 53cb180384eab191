"""Parity cases for gather, scatter, where, compare and one_hot: repeated and negative
indices, an index smaller than the input off ``dim``, a src larger than the index,
broadcasting operands, ties for the comparisons, sizes that are not multiples of a block."""

import numpy as np

from tests.kernel_cases import KernelCase


def _index(rng, n, shape, repeats=True):
    """int64 indices into a dim of size n: drawn in [-n, n) (repeats, negatives), or each
    line along the last axis a distinct prefix of a permutation (no two writes collide)."""
    if repeats:
        return rng.integers(-n, n, shape).astype(np.int64)
    lines = [rng.permutation(n)[:shape[-1]] for _ in range(int(np.prod(shape[:-1])))]
    return np.array(lines, np.int64).reshape(shape)


def _ties(rng, shape, dtype):
    return rng.integers(-2, 3, shape).astype(dtype)  # few values: many ties


CASES = [
    KernelCase("gather_forward", lambda r, d: ((r.standard_normal((3, 5)).astype(d),
                                                _index(r, 5, (3, 7)), 1), {}), "repeats"),
    KernelCase("gather_forward", lambda r, d: ((r.standard_normal((4, 3, 2)).astype(d),
                                                _index(r, 4, (6, 2, 2)), 0), {}), "dim0-smaller"),
    KernelCase("scatter_forward",
               lambda r, d: ((r.standard_normal((3, 5)).astype(d), _index(r, 5, (3, 4)),
                              r.standard_normal((3, 6)).astype(d), 1), {"add": True}),
               "add-repeats-larger-src"),
    KernelCase("scatter_forward",
               lambda r, d: ((r.standard_normal((5, 2, 3)).astype(d),
                              _index(r, 5, (2, 2, 3)).transpose(2, 1, 0).copy()[:2, :2, :3]
                              % 5, r.standard_normal((2, 2, 3)).astype(d), 0), {}),
               "dim0"),
    KernelCase("scatter_forward",
               lambda r, d: ((r.standard_normal((4, 9)).astype(d),
                              _index(r, 9, (3, 6), repeats=False),
                              r.standard_normal((3, 6)).astype(d), 1), {}), "write-distinct"),
    KernelCase("where_forward",
               lambda r, d: ((r.standard_normal((3, 1, 4)) > 0, r.standard_normal((5, 4)).astype(d),
                              r.standard_normal((1,)).astype(d)), {}), "broadcast"),
    KernelCase("where_forward",
               lambda r, d: ((r.standard_normal((37,)) > 0, r.standard_normal((37,)).astype(d),
                              r.standard_normal((37,)).astype(d)), {}), "same-shape"),
    KernelCase("compare_forward",
               lambda r, d: ((_ties(r, (3, 4), d), _ties(r, (4,), d), "ge"), {}), "ge-broadcast"),
    KernelCase("compare_forward",
               lambda r, d: ((_ties(r, (35,), d), _ties(r, (35,), d), "ne"), {}), "ne"),
    KernelCase("compare_forward",
               lambda r, d: ((r.standard_normal((3, 4)) > 0, r.standard_normal((1, 4)) > 0,
                              "xor"), {}), "bool-xor"),
    KernelCase("one_hot_forward",
               lambda r, d: ((r.integers(0, 5, (3, 7)).astype(np.int64), 5), {}), "2d"),
]
