"""Constant padding, F.pad(mode="constant"): derivation.

``widths`` holds one (before, after) pair per axis of x (D axes):

    out[i_0 + b_0, ..., i_{D-1} + b_{D-1}] = x[i_0, ..., i_{D-1}]
    out = value everywhere else                      out: (n_k + b_k + a_k) per axis

The border is a constant, so each x element's gradient is the upstream gradient at the
position it was copied to: dx = dout[b_0 : b_0 + n_0, ..., b_{D-1} : b_{D-1} + n_{D-1}].
"""

from __future__ import annotations

import numpy as np


def pad_forward(x, widths, value=0.0):
    interior = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
    return np.pad(x, widths, mode="constant", constant_values=value), interior


def pad_backward(dout, cache):
    interior = cache
    return (dout[interior].copy(),)
