"""Parity cases for max, average and adaptive average pooling (including the encoder's 2x2
fast path, overlapping windows, padding, ties); NaN is tested in tests/test_pool2d.py."""


from tests.kernel_cases import KernelCase


def _x(N, C, H, W):
    def make(rng, dtype):
        return rng.standard_normal((N, C, H, W)).astype(dtype)
    return make


def _pool(shape, *args, **kwargs):
    def make(rng, dtype):
        return (_x(*shape)(rng, dtype), *args), kwargs
    return make


def _ties(rng, dtype):
    x = rng.integers(0, 3, (2, 3, 6, 6)).astype(dtype)  # many ties: first maximum wins
    return (x, 2), {}


def _ties_overlap(rng, dtype):
    x = rng.integers(0, 2, (1, 2, 7, 7)).astype(dtype)
    return (x, 3), {"stride": 1, "padding": 1}


CASES = [
    KernelCase("max_pool2d_forward", _pool((2, 3, 8, 6), 2), "2x2-fast-path"),
    KernelCase("max_pool2d_forward", _pool((1, 2, 7, 5), 2), "2x2-fast-path-odd"),
    KernelCase("max_pool2d_forward", _pool((2, 3, 7, 9), 3, stride=2, padding=1), "overlap-pad"),
    KernelCase("max_pool2d_forward", _pool((1, 2, 7, 8), (2, 3), stride=(1, 2)), "rect"),
    KernelCase("max_pool2d_forward", _ties, "ties"),
    KernelCase("max_pool2d_forward", _ties_overlap, "ties-overlap"),
    KernelCase("avg_pool2d_forward", _pool((2, 3, 8, 6), 2), "2x2"),
    KernelCase("avg_pool2d_forward", _pool((2, 2, 7, 9), (3, 2), stride=(2, 1), padding=1),
               "overlap-pad"),
    KernelCase("adaptive_avg_pool2d_forward", _pool((2, 3, 5, 7), 1), "global"),
    KernelCase("adaptive_avg_pool2d_forward", _pool((2, 3, 7, 5), (3, 2)), "3x2"),
]
