"""Parity cases for permute, getitem (basic and advanced), concat, split and cast."""

import numpy as np

from tests.kernel_cases import KernelCase


def _randn(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


def _other(dtype):
    return np.float64 if np.dtype(dtype) == np.float32 else np.float32


CASES = [
    KernelCase("permute_forward", lambda r, d: ((_randn(r, d, 2, 3, 4), (2, 0, 1)), {}), "3d"),
    KernelCase("permute_forward", lambda r, d: ((_randn(r, d, 2, 3, 4, 5), (0, 2, 1, 3)), {}),
               "swap-middle"),
    KernelCase("getitem_forward",
               lambda r, d: ((_randn(r, d, 4, 5, 6), (slice(1, None, 2), 3, slice(None, None, -2))),
                             {}), "steps-int"),
    KernelCase("getitem_forward",
               lambda r, d: ((_randn(r, d, 3, 4, 5), (Ellipsis, None, slice(-3, None))), {}),
               "ellipsis-newaxis"),
    KernelCase("getitem_forward",  # split advanced indices: their axis goes first; repeats
               lambda r, d: ((_randn(r, d, 5, 4, 3), (np.array([3, 0, 3, -1]), slice(1, None),
                                                      np.array([2, 0, 2, 1]))), {}),
               "advanced-repeats"),
    KernelCase("getitem_forward", lambda r, d: ((_randn(r, d, 5, 3), 2), {}), "row"),
    KernelCase("getitem_forward",
               lambda r, d: ((_randn(r, d, 4, 3, 2), (np.array([[True, False, True]] * 4),)), {}),
               "bool-mask"),
    KernelCase("concat_forward",
               lambda r, d: (((_randn(r, d, 2, 1, 3), _randn(r, d, 2, 4, 3),
                               _randn(r, d, 2, 2, 3)),), {"axis": 1}), "three-middle"),
    KernelCase("concat_forward",
               lambda r, d: (((_randn(r, d, 3, 2), _randn(r, d, 3, 5)),), {"axis": -1}),
               "last"),
    KernelCase("split_forward", lambda r, d: ((_randn(r, d, 2, 6, 3), [1, 3, 2]), {"axis": 1}),
               "middle"),
    KernelCase("split_forward", lambda r, d: ((_randn(r, d, 4, 5), [2, 2]), {"axis": 0}),
               "first"),
    KernelCase("cast_forward", lambda r, d: ((_randn(r, d, 3, 4), _other(d)), {}), "float"),
]
