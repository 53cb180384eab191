"""Parity cases for the product reduction: every axis of an odd shape, keepdim, the whole
tensor, and rows with one zero and with two zeros (PyTorch's gradient cases)."""


from tests.kernel_cases import KernelCase


def _values(rng, dtype, *shape):
    return (rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)).astype(dtype)


def _zeros(rng, dtype):
    x = _values(rng, dtype, 4, 5)
    x[1, 2] = 0  # one zero in row 1
    x[2, 0] = x[2, 3] = 0  # two zeros in row 2
    return (x,), {"axis": 1}


CASES = [
    *[KernelCase("prod_forward", lambda r, d, a=axis: ((_values(r, d, 3, 4, 5),), {"axis": a}),
                 f"axis{axis}") for axis in (0, 1, 2)],
    KernelCase("prod_forward", lambda r, d: ((_values(r, d, 3, 1, 2),),
                                             {"axis": 1, "keepdim": True}), "keepdim"),
    KernelCase("prod_forward", lambda r, d: ((_values(r, d, 2, 3),), {}), "all"),
    KernelCase("prod_forward", _zeros, "zeros"),
]
