"""Parity cases for sum, mean and max: every axis form, keepdim, ties, a long row."""

import numpy as np

from tests.kernel_cases import KernelCase

# float32: the kernels sum in a different order from NumPy's pairwise summation
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _x(*shape, ints=False):
    def make(rng, dtype):
        if ints:  # many ties
            return rng.integers(0, 3, shape).astype(dtype)
        return rng.standard_normal(shape).astype(dtype)
    return make


def _case(op, shape, label, ints=False, **kwargs):
    make = _x(*shape, ints=ints)
    return KernelCase(f"{op}_forward", lambda r, d: ((make(r, d),), dict(kwargs)), label, TOL)


CASES = [
    *[case
      for op in ("sum", "mean", "max", "amax")
      for case in (
          _case(op, (2, 3, 5), "all"),
          _case(op, (2, 3, 5), "axis1", axis=1),
          _case(op, (2, 3, 5), "last-keepdim", axis=-1, keepdim=True),
          _case(op, (2, 3, 4, 5), "non-adjacent", axis=(0, 2)),
          _case(op, (3, 4, 2), "two-adjacent-keepdim", axis=(1, 2), keepdim=True),
      )],
    _case("sum", (3, 600), "long-rows", axis=1),
    _case("mean", (2, 700), "long-all"),
    _case("max", (3, 4, 5), "ties", ints=True, axis=(0, 2)),
    _case("max", (4, 6), "ties-rows", ints=True, axis=1),
    _case("amax", (3, 4, 5), "ties", ints=True, axis=(0, 2)),
    _case("amax", (4, 6), "ties-rows-keepdim", ints=True, axis=1, keepdim=True),
]
