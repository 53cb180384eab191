"""Parity cases for the foundation kernels: matmul, linear, activations, softmax, CE."""

import numpy as np

from tests.kernel_cases import KernelCase


def _randn(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


# Arrays above tinymm.kernels.numba_cpu._util.PARALLEL_MIN elements take the parallel drivers.
BIG = 40_000

CASES = [
    KernelCase("matmul_forward", lambda r, d: ((_randn(r, d, 5, 7), _randn(r, d, 7, 3)), {}), "2d"),
    KernelCase("matmul_forward",
               lambda r, d: ((_randn(r, d, 2, 1, 4, 3), _randn(r, d, 5, 3, 6)), {}), "broadcast"),
    KernelCase("matmul_forward", lambda r, d: ((_randn(r, d, 4), _randn(r, d, 3, 4, 2)), {}),
               "vector"),
    KernelCase("linear_forward",
               lambda r, d: ((_randn(r, d, 6, 5), _randn(r, d, 3, 5), _randn(r, d, 3)), {}), "2d"),
    KernelCase("linear_forward",
               lambda r, d: ((_randn(r, d, 2, 4, 5), _randn(r, d, 3, 5), None), {}), "3d-no-bias"),
    KernelCase("linear_forward",  # x[n] a transposed (4, 5) matrix: BLAS reads its strides
               lambda r, d: ((_randn(r, d, 3, 5, 4).transpose(0, 2, 1), _randn(r, d, 2, 5),
                              _randn(r, d, 2)), {}), "3d-strided"),
    KernelCase("linear_forward",  # x[n] rows of a (T, N, D) sequence: copied into one GEMM
               lambda r, d: ((_randn(r, d, 4, 3, 5).transpose(1, 0, 2), _randn(r, d, 2, 5),
                              _randn(r, d, 2)), {}), "3d-strided-rows"),
    KernelCase("linear_forward",
               lambda r, d: ((_randn(r, d, 5, 6).T, _randn(r, d, 2, 5), None), {}),
               "2d-strided"),
    KernelCase("relu_forward", lambda r, d: ((_randn(r, d, 3, 17),), {})),
    KernelCase("sigmoid_forward", lambda r, d: ((_randn(r, d, 3, 17) * 30,), {})),
    KernelCase("tanh_forward", lambda r, d: ((_randn(r, d, 2, 3, 5) * 3,), {})),
    KernelCase("softmax_forward", lambda r, d: ((_randn(r, d, 4, 9) * 5,), {"axis": -1}), "last"),
    KernelCase("softmax_forward", lambda r, d: ((_randn(r, d, 4, 9, 3),), {"axis": 1}), "middle"),
    KernelCase("log_softmax_forward", lambda r, d: ((_randn(r, d, 4, 9) * 5,), {"axis": -1})),
    KernelCase("log_softmax_forward", lambda r, d: ((_randn(r, d, 3, 2, 5),), {"axis": 0}),
               "first"),
    KernelCase("cross_entropy_forward",
               lambda r, d: ((_randn(r, d, 8, 5) * 3, r.integers(0, 5, 8)), {}), "mean"),
    KernelCase("cross_entropy_forward",
               lambda r, d: ((_randn(r, d, 8, 5), np.array([0, 1, -100, 4, 2, -100, 3, 3])),
                             {"reduction": "sum", "label_smoothing": 0.1}), "sum-ignore-smooth"),
    KernelCase("cross_entropy_forward",
               lambda r, d: ((_randn(r, d, 6, 4) * 1e4, r.integers(0, 4, 6)),
                             {"reduction": "none"}), "none-huge-logits"),
    # the same kernels on arrays large enough for their parallel (prange) drivers
    KernelCase("relu_forward", lambda r, d: ((_randn(r, d, BIG + 3),), {}), "parallel"),
    KernelCase("sigmoid_forward", lambda r, d: ((_randn(r, d, 8, BIG // 8) * 5,), {}), "parallel"),
    KernelCase("tanh_forward", lambda r, d: ((_randn(r, d, BIG + 1),), {}), "parallel"),
    KernelCase("softmax_forward", lambda r, d: ((_randn(r, d, BIG // 50, 50),), {}), "parallel"),
    KernelCase("log_softmax_forward", lambda r, d: ((_randn(r, d, BIG // 50, 50),), {}),
               "parallel"),
    KernelCase("cross_entropy_forward",
               lambda r, d: ((_randn(r, d, BIG // 40, 40), r.integers(0, 40, BIG // 40)), {}),
               "parallel"),
]
