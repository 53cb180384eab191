"""Parity cases for constant padding: every axis padded, zero widths, one side only."""

from tests.kernel_cases import KernelCase


def _x(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


CASES = [
    KernelCase("pad_forward", lambda r, d: ((_x(r, d, 2, 3, 5), ((1, 0), (0, 2), (3, 1))),
                                            {"value": 0.5}), "every-axis"),
    KernelCase("pad_forward", lambda r, d: ((_x(r, d, 3, 4), ((0, 0), (2, 3))), {}),
               "last-axis"),
]
