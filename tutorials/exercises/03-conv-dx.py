"""Exercise 03-conv-dx: write `conv2d_dx`.

dout (N, O, OH, OW) is a convolution's output gradient, weight (O, C, kh, kw), x_shape
(N, C, H, W) the input's shape, stride s and zero padding p (ints, no dilation). Return
dx (N, C, H, W).

The derivation: tutorials/03_conv_pool.py, section 2.
Check your answer:   tinymm exercises check 03-conv-dx
Stuck?               tinymm exercises hint 03-conv-dx --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def conv2d_dx(dout, weight, x_shape, stride=1, padding=0):
    raise NotImplementedError(
        "03-conv-dx: conv2d_dx is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 03-conv-dx`")
