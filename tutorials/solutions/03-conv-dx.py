"""Solution of exercise 03-conv-dx (kept apart from the stub in tutorials/exercises/).

dout (N, O, OH, OW) is a convolution's output gradient, weight (O, C, kh, kw), x_shape
(N, C, H, W) the input's shape, stride s and zero padding p (ints, no dilation). Return
dx (N, C, H, W).
"""

import numpy as np


def conv2d_dx(dout, weight, x_shape, stride=1, padding=0):
    N, C, H, W = x_shape
    _, _, kh, kw = weight.shape
    s, p = stride, padding
    dxp = np.zeros((N, C, H + 2 * p, W + 2 * p))  # the padded input's gradient
    for y in range(dout.shape[2]):
        for z in range(dout.shape[3]):
            # every output (y, z) read the window at (y*s, z*s): send its gradient back there
            dxp[:, :, y * s:y * s + kh, z * s:z * s + kw] += np.einsum(
                "no,ocij->ncij", dout[:, :, y, z], weight)  # (N, C, kh, kw)
    return dxp[:, :, p:p + H, p:p + W]  # crop the padding
