"""Parity cases for the fusion cores (gated fusion, bilinear pooling, FiLM)."""


from tests.kernel_cases import KernelCase


def _randn(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


CASES = [
    KernelCase("gated_fusion_forward",
               lambda r, d: ((_randn(r, d, 5, 9) * 4, _randn(r, d, 5, 9), _randn(r, d, 5, 9)),
                             {}), "2d"),
    KernelCase("gated_fusion_forward",
               lambda r, d: ((_randn(r, d, 2, 3, 4) * 40, _randn(r, d, 2, 3, 4),
                              _randn(r, d, 2, 3, 4)), {}), "3d-saturated-gate"),
    KernelCase("bilinear_pool_forward",
               lambda r, d: ((_randn(r, d, 6, 11), _randn(r, d, 6, 11)), {})),
    KernelCase("film_forward",
               lambda r, d: ((_randn(r, d, 2, 3, 4, 5), _randn(r, d, 2, 3), _randn(r, d, 2, 3)),
                             {})),
]
