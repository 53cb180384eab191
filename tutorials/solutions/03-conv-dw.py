"""Solution of exercise 03-conv-dw (kept apart from the stub in tutorials/exercises/).

x (N, C, H, W) is a convolution's input, dout (N, O, OH, OW) its output gradient,
kernel_size (kh, kw), stride s and zero padding p (ints, no dilation). Return dweight
(O, C, kh, kw).
"""

import numpy as np


def conv2d_dweight(x, dout, kernel_size, stride=1, padding=0):
    kh, kw = kernel_size
    s, p = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # (N, C, H + 2p, W + 2p)
    OH, OW = dout.shape[2:]
    dweight = np.zeros((dout.shape[1], x.shape[1], kh, kw))  # (O, C, kh, kw)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + s * (OH - 1) + 1:s, j:j + s * (OW - 1) + 1:s]  # (N, C, OH, OW)
            dweight[:, :, i, j] = np.einsum("noyz,ncyz->oc", dout, patch)
    return dweight
