"""Exercise 03-conv-dw: write `conv2d_dweight`.

x (N, C, H, W) is a convolution's input, dout (N, O, OH, OW) its output gradient,
kernel_size (kh, kw), stride s and zero padding p (ints, no dilation). Return dweight
(O, C, kh, kw).

The derivation: tutorials/03_conv_pool.py, sections 2 and 5.
Check your answer:   tinymm exercises check 03-conv-dw
Stuck?               tinymm exercises hint 03-conv-dw --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def conv2d_dweight(x, dout, kernel_size, stride=1, padding=0):
    raise NotImplementedError(
        "03-conv-dw: conv2d_dweight is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 03-conv-dw`")
