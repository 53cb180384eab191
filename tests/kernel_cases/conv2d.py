"""Parity cases for conv2d, the fused conv2d + ReLU and the fused conv2d + ReLU + 2x2
max-pool: geometries that exercise every branch
of the numba im2col/col2im (padding on each side, stride, dilation, "same" with an even kernel,
no bias, a kernel as large as the padded input), and the 3x3 shapes of the numba Winograd
F(4x4, 3x3) path (WINOGRAD_GEOMETRIES: odd sizes, each padding, asymmetric padding, no bias,
and a stride-2 shape that must fall back to im2col), which tests/test_conv2d.py also runs with
that path switched on."""

import numpy as np

from tests.kernel_cases import KernelCase
from tinymm.kernels.geometry import conv_geometry

# float32: the GEMMs (BLAS) and the reference (einsum / matmul) sum in different orders
TOL = {np.float32: 2e-6, np.float64: 1e-12}


def _conv(N, C, H, W, O, kh, kw, bias=True, **geometry):
    def make(rng, dtype):
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        weight = rng.standard_normal((O, C, kh, kw)).astype(dtype)
        b = rng.standard_normal(O).astype(dtype) if bias else None
        return (x, weight, b), geometry
    return make


GEOMETRIES = [
    ("3x3-pad1", _conv(2, 3, 6, 7, 4, 3, 3, padding=1)),  # K = 27, conv A's shape class
    ("3x3-pad1-k45", _conv(2, 5, 6, 7, 4, 3, 3, padding=1)),  # K = 45
    ("stride2-dil2-pad-pair", _conv(2, 2, 9, 8, 3, 3, 2, stride=2, padding=(2, 1), dilation=2)),
    ("same-even-kernel", _conv(1, 3, 5, 6, 2, 2, 4, padding="same")),
    ("valid-no-bias", _conv(3, 1, 5, 5, 2, 3, 3, bias=False, padding="valid")),
    ("stride-3x1", _conv(2, 2, 7, 10, 3, 1, 3, stride=(3, 1), padding=(0, 2))),
    ("kernel-fills-input", _conv(2, 2, 3, 4, 3, 5, 4, padding=(1, 0))),
]

# (label, make, whether the numba Winograd path takes it when switched on); C >= 8 input
# channels (the path's threshold), 3x3 kernels
WINOGRAD_GEOMETRIES = [
    ("wino-3x3-pad1-odd", _conv(2, 8, 7, 5, 3, 3, 3, padding=1), True),
    ("wino-3x3-valid", _conv(1, 9, 6, 6, 4, 3, 3, padding=0), True),
    ("wino-3x3-pad2-odd", _conv(2, 8, 5, 6, 2, 3, 3, padding=2), True),
    ("wino-3x3-asym-pad-no-bias", _conv(1, 8, 6, 7, 3, 3, 3, bias=False,
                                        padding=(2, 0, 1, 1)), True),
    ("wino-3x3-1x1-output", _conv(2, 8, 3, 3, 2, 3, 3, padding=0), True),
    # more images than worker threads: each worker's scratch serves several images, so a
    # pass that leaves stale values where a later image expects zeros shows up here
    ("wino-3x3-7-images", _conv(7, 9, 7, 6, 3, 3, 3, padding=(1, 2, 0, 1)), True),
    # several 4x4 tiles down and across, and channel counts past the transforms' blocks of 8
    ("wino-3x3-channel-blocks", _conv(2, 17, 13, 11, 11, 3, 3, padding=1), True),
    ("wino-stride2-falls-back", _conv(2, 8, 7, 6, 3, 3, 3, stride=2, padding=1), False),
]

CASES = [KernelCase(kernel, make, label, TOL)
         for kernel in ("conv2d_forward", "conv2d_relu_forward")
         for label, make in GEOMETRIES + [(g[0], g[1]) for g in WINOGRAD_GEOMETRIES]]


def _pool_fits(make) -> bool:
    """Whether the geometry's conv output holds a 2x2 pool window (the fused op's rule)."""
    (x, weight, _), geometry = make(np.random.default_rng(0), np.float64)
    *_, OH, OW = conv_geometry(x.shape, weight.shape, geometry.get("stride", 1),
                               geometry.get("padding", 0), geometry.get("dilation", 1))
    return OH >= 2 and OW >= 2


# the fused conv2d + ReLU + 2x2 max-pool: every geometry above whose output a 2x2 window
# fits (odd output sizes drop their last row or column, as the pool's floor mode), on the
# numba Winograd path (the pool made from the output tiles) and the composed one
CASES += [KernelCase("conv2d_relu_max_pool2d_forward", make, label, TOL)
          for label, make in GEOMETRIES + [(g[0], g[1]) for g in WINOGRAD_GEOMETRIES]
          if _pool_fits(make)]
