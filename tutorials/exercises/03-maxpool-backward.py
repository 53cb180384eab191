"""Exercise 03-maxpool-backward: write `max_pool2d_backward`.

Max pooling with square windows of size kernel_size (an int), stride an int, no padding.
x (N, C, H, W) is the input, dout (N, C, OH, OW) the output gradient. Return dx shaped like
x. At a tie the gradient goes to the first maximum in row-major window order (PyTorch).

The derivation: tutorials/03_conv_pool.py, section 4.
Check your answer:   tinymm exercises check 03-maxpool-backward
Stuck?               tinymm exercises hint 03-maxpool-backward --level 1   (levels 1, 2, 3)
"""

import numpy as np  # noqa: F401 (you will need it)


def max_pool2d_backward(dout, x, kernel_size, stride):
    raise NotImplementedError(
        "03-maxpool-backward: max_pool2d_backward is not implemented yet: "
        "write it in this file, then run `tinymm exercises check 03-maxpool-backward`")
