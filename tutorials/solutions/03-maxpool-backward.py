"""Solution of exercise 03-maxpool-backward (kept apart from the stub in tutorials/exercises/).

Max pooling with square windows of size kernel_size (an int), stride an int, no padding.
x (N, C, H, W) is the input, dout (N, C, OH, OW) the output gradient. Return dx shaped like
x. At a tie the gradient goes to the first maximum in row-major window order (PyTorch).
"""

import numpy as np


def max_pool2d_backward(dout, x, kernel_size, stride):
    k, s = kernel_size, stride
    dx = np.zeros_like(x)
    N, C, OH, OW = dout.shape
    for n, c, y, z in np.ndindex(N, C, OH, OW):
        window = x[n, c, y * s:y * s + k, z * s:z * s + k]  # (k, k)
        i, j = divmod(int(np.argmax(window)), k)  # the first maximum, row-major
        dx[n, c, y * s + i, z * s + j] += dout[n, c, y, z]  # windows may overlap: add
    return dx
