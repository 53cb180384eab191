"""Parity cases for the rounding and erf kernels: halves (round's ties to even), negatives,
zeros and whole numbers for every rounding mode (NaN and infinities: the rounding check of
tests/cuda_ops_check.py); erf across its range; atan2 broadcast both ways."""

import numpy as np

from tests.kernel_cases import KernelCase


def _rounding_input(rng, dtype):
    halves = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.0, -0.0, 3.0, -7.0, 1e7 + 0.5])
    return (np.concatenate([halves, rng.uniform(-4, 4, 26)]).reshape(37).astype(dtype),)


CASES = [
    *[KernelCase("rounding_forward", lambda r, d, m=mode: (_rounding_input(r, d), {"mode": m}),
                 mode) for mode in ("floor", "ceil", "round", "trunc", "sign")],
    KernelCase("erf_forward", lambda r, d: ((r.uniform(-3, 3, (3, 11)).astype(d),), {}),
               tol={np.float32: 2e-6, np.float64: 1e-12}),
    KernelCase("atan2_forward", lambda r, d: ((r.standard_normal((3, 1, 4)).astype(d),
                                               r.standard_normal((5, 4)).astype(d)), {}),
               "broadcast", tol={np.float32: 2e-6, np.float64: 1e-12}),
]


def _modulo_operands(rng, dtype):
    a = rng.uniform(-7, 7, (3, 1, 4)).astype(dtype)
    a[0, 0, :2] = (3.0, -3.0)  # exact multiples: remainder 0 of either sign
    b = (rng.uniform(0.5, 2.5, (5, 4)) * rng.choice([-1, 1], (5, 4))).astype(dtype)
    b[0, :2] = 1.5
    return (a, b)


CASES += [KernelCase("modulo_forward", lambda r, d, f=floor: (_modulo_operands(r, d),
                                                               {"floor": f}), label)
          for floor, label in ((False, "fmod"), (True, "remainder"))]
